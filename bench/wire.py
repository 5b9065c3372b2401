"""Byte-counting TCP proxy: counts application bytes each way between clients and a server.

Counts TCP payload (HTTP headers + bodies), not IP/TCP headers. It runs in a thread of the
benchmark process, so its CPU never counts as server CPU.
"""
import asyncio
import threading

from .servers import free_port


SSE_EVENT = b"\ndata: "  # once per Server-Sent Event: every event's data line follows a line end


class ByteCounter:
    """Proxy 127.0.0.1:<port> to ``target_port``; ``snapshot()`` gives (up, down) bytes; ``events``
    counts the Server-Sent Events that went down (the push transport's ticks)."""

    def __init__(self, target_port):
        self.target_port = target_port
        self.port = free_port()
        self.up = 0
        self.down = 0
        self.connections = 0
        self.events = 0
        self._loop = asyncio.new_event_loop()
        self._stop = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self):
        self._thread.start()
        self._ready.wait(10)
        return self

    def __exit__(self, *exc):
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def snapshot(self):
        return self.up, self.down

    def _run(self):
        self._loop.run_until_complete(self._main())
        self._loop.close()

    async def _main(self):
        self._stop = asyncio.Event()
        server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)
        self._ready.set()
        async with server:
            await self._stop.wait()
        pending = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    async def _handle(self, c_reader, c_writer):
        self.connections += 1
        try:
            s_reader, s_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            c_writer.close()
            return
        await self._relay(c_reader, c_writer, s_reader, s_writer)

    async def _relay(self, c_reader, c_writer, s_reader, s_writer):
        """Copy both directions of one connection, counting bytes (subclasses count more)."""
        await asyncio.gather(self._pipe(c_reader, s_writer, "up"),
                             self._pipe(s_reader, c_writer, "down"))

    async def _pipe(self, reader, writer, direction):
        tail = b""  # the end of the previous read, for an event marker split between two reads
        try:
            while data := await reader.read(65536):
                setattr(self, direction, getattr(self, direction) + len(data))
                if direction == "down":
                    self.events += (tail + data).count(SSE_EVENT)
                    tail = data[-(len(SSE_EVENT) - 1):]
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()
