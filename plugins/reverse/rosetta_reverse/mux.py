# mypy: ignore-errors
# (untyped on purpose: it must run on Python 3.6, whose annotations cannot use the forms of 3.11)
#
# Both ends of the tunnel: TCP sockets bridged to the streams of one WebSocket (see frames.py).
# Standard library only, Python 3.6 syntax: it ships with the in-job agent.
#
# Mux(ws, connect=None): run() reads frames until the WebSocket ends, then ends every stream.
# - attach(sock) (the platform) sends OPEN for a new stream and relays sock both ways.
# - an OPEN received calls connect() (the agent: a socket to the task's interface) in a thread
#   of its own; a failure answers RESET. Without connect, OPEN is answered RESET.
# Each stream has two threads: a pump reading its socket into DATA frames (at the socket's end of
# file it sends CLOSE), and a writer emptying the stream's queue of received DATA into the socket
# (after a CLOSE received and the queue written, it half-closes the socket: shutdown SHUT_WR).
# Flow control, per stream and direction: a side sends at most the window the peer granted
# (frames.INITIAL_WINDOW, then each WINDOW frame's increment); the writer grants more as it writes.
# So the frame-reading thread never blocks on a socket, and one slow consumer slows only its own
# stream. A peer that sends beyond its window breaks the protocol. The stream's socket is closed
# once both directions ended, or at RESET.
import collections
import contextlib
import socket
import threading

from rosetta_reverse import frames

CHUNK = frames.MAX_PAYLOAD
# grant more room once this much of the window was written (fewer WINDOW frames than per DATA)
GRANT_AT = frames.INITIAL_WINDOW // 4


class _Stream:
    def __init__(self, sid):
        self.sid = sid
        self.sock = None
        self.lock = threading.Lock()
        self.changed = threading.Condition(self.lock)
        self.queue = collections.deque()  # received DATA not yet written to sock
        self.receivable = frames.INITIAL_WINDOW  # bytes the peer may still send
        self.sendable = frames.INITIAL_WINDOW  # bytes we may still send
        self.sent_close = False
        self.got_close = False
        self.write_done = False  # CLOSE received, every byte before it written, socket half-closed
        self.reset = False
        self.finished = False


class Mux:
    def __init__(self, ws, connect=None, log=None):
        self.ws = ws
        self.connect = connect
        self.log = log or (lambda message: None)
        self._streams = {}
        self._lock = threading.Lock()
        self._next = 1
        self._threads = []
        self._ended = False

    # ---------------------------------------------------------------- platform

    def attach(self, sock):
        """Relay sock over a new stream; returns its id. Raises OSError once the mux ended."""
        with self._lock:
            if self._ended:
                raise ConnectionError("the tunnel is closed")
            sid = self._next
            self._next += 1
            stream = _Stream(sid)
            stream.sock = sock
            self._streams[sid] = stream
        try:
            self.ws.send(frames.encode(sid, frames.OPEN))
        except Exception:
            self._drop(stream)
            raise ConnectionError("the tunnel is closed") from None
        self._spawn(self._write, stream)
        self._spawn(self._pump, stream)
        return sid

    def stream_count(self):
        with self._lock:
            return len(self._streams)

    # ---------------------------------------------------------------- both

    def run(self):
        """Serve frames until the WebSocket ends (its exception propagates), then end every stream."""
        try:
            while True:
                self._dispatch(frames.decode(self.ws.recv()))
        finally:
            self.close()

    def close(self):
        """End the WebSocket and every stream, and wait for the stream threads."""
        with self._lock:
            self._ended = True
            streams = list(self._streams.values())
            threads = list(self._threads)
        self.ws.close()
        for stream in streams:
            self._abort(stream)
        for thread in threads:
            if thread is not threading.current_thread():
                thread.join(10)

    def _spawn(self, target, *args):
        thread = threading.Thread(target=target, args=args, daemon=True)
        with self._lock:
            self._threads = [t for t in self._threads if t.is_alive()]
            self._threads.append(thread)
        thread.start()

    def _send(self, sid, kind, payload=b""):
        try:
            self.ws.send(frames.encode(sid, kind, payload))
            return True
        except Exception:
            return False

    def _dispatch(self, frame):
        with self._lock:
            stream = self._streams.get(frame.stream)
            if frame.kind == frames.OPEN and stream is None and not self._ended:
                stream = _Stream(frame.stream)
                self._streams[frame.stream] = stream
                opened = True
            else:
                opened = False
        if frame.kind == frames.OPEN:
            if not opened:
                raise frames.ProtocolError(f"OPEN of a stream in use: {frame.stream}")
            if self.connect is None:
                self._drop(stream)
                self._send(frame.stream, frames.RESET)
            else:
                self._spawn(self._open, stream)
            return
        if stream is None:
            return  # a frame of a stream that just ended: harmless
        if frame.kind == frames.DATA:
            with stream.lock:
                if len(frame.payload) > stream.receivable:
                    raise frames.ProtocolError(f"stream {stream.sid}: DATA beyond the window")
                stream.receivable -= len(frame.payload)
                stream.queue.append(frame.payload)
                stream.changed.notify_all()
        elif frame.kind == frames.WINDOW:
            with stream.lock:
                stream.sendable += frames.increment_of(frame)
                stream.changed.notify_all()
        elif frame.kind == frames.CLOSE:
            with stream.lock:
                stream.got_close = True
                stream.changed.notify_all()
        elif frame.kind == frames.RESET:
            self._abort(stream)

    def _open(self, stream):
        try:
            sock = self.connect()
        except Exception as error:
            self.log(f"stream {stream.sid}: cannot connect: {error}")
            self._drop(stream)
            self._send(stream.sid, frames.RESET)
            return
        with stream.lock:
            stream.sock = sock
            aborted = stream.reset
        if aborted:
            self._abort(stream)
            return
        self._spawn(self._write, stream)
        self._pump(stream)

    def _write(self, stream):
        """Write the stream's received DATA to its socket, granting the peer room as it goes."""
        written = 0
        while True:
            with stream.lock:
                while not stream.queue and not stream.got_close and not stream.reset:
                    stream.changed.wait()
                if stream.reset:
                    return
                data = stream.queue.popleft() if stream.queue else None
                sock = stream.sock
            if data is None:  # CLOSE received and everything before it written
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_WR)
                with stream.lock:
                    stream.write_done = True
                self._finish_if_done(stream)
                return
            try:
                sock.sendall(data)
            except OSError:
                self._abort(stream)
                self._send(stream.sid, frames.RESET)
                return
            written += len(data)
            if written >= GRANT_AT:
                with stream.lock:
                    stream.receivable += written
                if not self._send_window(stream.sid, written):
                    self._abort(stream)
                    return
                written = 0

    def _send_window(self, sid, increment):
        try:
            self.ws.send(frames.window(sid, increment))
            return True
        except Exception:
            return False

    def _pump(self, stream):
        sock = stream.sock
        while True:
            with stream.lock:
                while stream.sendable <= 0 and not stream.reset:
                    stream.changed.wait()
                if stream.reset:
                    return
                room = min(CHUNK, stream.sendable)
            try:
                data = sock.recv(room)
            except OSError:
                data = None
            if not data:
                break
            with stream.lock:
                stream.sendable -= len(data)
            if not self._send(stream.sid, frames.DATA, data):
                self._abort(stream)
                return
        if data is None or stream.reset:
            if not stream.reset:
                self._send(stream.sid, frames.RESET)
            self._abort(stream)
            return
        with stream.lock:
            stream.sent_close = True
        self._send(stream.sid, frames.CLOSE)
        self._finish_if_done(stream)

    def _finish_if_done(self, stream):
        with stream.lock:
            if not (stream.sent_close and stream.write_done) or stream.finished or stream.reset:
                return
            stream.finished = True
            stream.changed.notify_all()
        self._drop(stream)
        stream.sock.close()

    def _abort(self, stream):
        with stream.lock:
            stream.reset = True
            stream.changed.notify_all()
            sock = stream.sock
            if stream.finished:
                return
        self._drop(stream)
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            with stream.lock:
                if stream.finished:
                    return
                stream.finished = True
            sock.close()

    def _drop(self, stream):
        with self._lock:
            if self._streams.get(stream.sid) is stream:
                del self._streams[stream.sid]
