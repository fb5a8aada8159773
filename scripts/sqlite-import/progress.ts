// Progress on stderr: a bar on a terminal (cli-progress), plain lines at every tenth otherwise (logs, CI).
import cliProgress from "cli-progress";

export interface Progress {
  start(total: number): void;
  update(done: number): void;
  stop(): void;
}

export function createProgress(stream: NodeJS.WriteStream = process.stderr): Progress {
  return stream.isTTY ? barProgress(stream) : lineProgress(stream);
}

function barProgress(stream: NodeJS.WriteStream): Progress {
  const bar = new cliProgress.SingleBar(
    {
      stream,
      format: "importing |{bar}| {percentage}% {value}/{total} rows | {speed} rows/s | ETA {eta_formatted}",
      hideCursor: true,
    },
    cliProgress.Presets.shades_classic,
  );
  let started = 0;
  return {
    start(total) {
      started = Date.now();
      bar.start(total, 0, { speed: 0 });
    },
    update(done) {
      const seconds = (Date.now() - started) / 1000;
      bar.update(done, { speed: seconds > 0 ? Math.round(done / seconds) : 0 });
    },
    stop: () => bar.stop(),
  };
}

function lineProgress(stream: NodeJS.WriteStream): Progress {
  let total = 0;
  let nextTenth = 1;
  return {
    start(t) {
      total = t;
      nextTenth = 1;
      stream.write(`importing ${total} rows\n`);
    },
    update(done) {
      if (total === 0) return;
      const tenth = Math.floor((done * 10) / total);
      if (tenth < nextTenth) return;
      nextTenth = tenth + 1;
      stream.write(`${done}/${total} rows (${Math.floor((done * 100) / total)}%)\n`);
    },
    stop() {},
  };
}
