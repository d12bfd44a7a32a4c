"""A real SMTP server for the tests (aiosmtpd): every message accepted is written to a directory, one
file each (the envelope's recipients on a first line, then the message as received). With
--fail-first N the first N messages are refused with a temporary failure (451), as a server that is
briefly unavailable would."""

import argparse
import os
import threading
import time

from aiosmtpd.controller import Controller


class Sink:
    def __init__(self, directory, fail_first):
        self.directory = directory
        self.fail_first = fail_first
        self.lock = threading.Lock()
        self.count = 0

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            if self.fail_first > 0:
                self.fail_first -= 1
                return "451 4.3.0 Try again later"
            self.count += 1
            name = f"{time.time_ns()}-{self.count:06d}.eml"
        path = os.path.join(self.directory, name)
        with open(path + ".tmp", "wb") as f:
            f.write(b"X-Envelope-To: " + ",".join(envelope.rcpt_tos).encode() + b"\r\n")
            f.write(envelope.original_content or envelope.content)
        os.rename(path + ".tmp", path)
        return "250 OK"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--dir", required=True)
    parser.add_argument("--fail-first", type=int, default=0)
    args = parser.parse_args()
    controller = Controller(Sink(args.dir, args.fail_first), hostname="127.0.0.1", port=args.port)
    controller.start()
    print("ready", flush=True)
    try:
        while True:
            time.sleep(3600)
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
