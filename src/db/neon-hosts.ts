/** Neon's endpoint host names, without importing any driver (prisma.config.ts reads this too). */

/** Neon endpoints are reached directly over secure WebSockets; anything else goes through the local proxy. */
export function isNeonHost(hostname: string): boolean {
  return /\.neon\.(tech|build)$/i.test(hostname) || /\.aws\.neon\.com$/i.test(hostname);
}

/** Neon's pooled endpoints: `<endpoint>-pooler.<region>.aws.neon.tech` (PgBouncer in transaction mode). */
export function isNeonPoolerUrl(url: string): boolean {
  if (!URL.canParse(url)) return false;
  const { hostname } = new URL(url);
  return /^[^.]+-pooler\./i.test(hostname) && isNeonHost(hostname);
}
