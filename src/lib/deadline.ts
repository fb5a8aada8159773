/** Resolves like `promise`, or rejects with `timeoutError()` once `ms` have passed (no deadline when `ms` is 0 or unset). */
export async function withDeadline<T>(
  promise: Promise<T>,
  ms: number | undefined,
  timeoutError: () => Error,
): Promise<T> {
  if (!ms) return promise;
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(timeoutError()), ms);
  });
  try {
    return await Promise.race([promise, deadline]);
  } finally {
    clearTimeout(timer);
  }
}
