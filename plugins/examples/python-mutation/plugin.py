#!/usr/bin/env python3
"""An example ccq optimizer plugin in Python: a (1+lambda) mutation EA.

Each generation proposes `lam` candidates; each moves `changes` random
weights of the parent one level up or down (inside the variable's domain).
The best candidate replaces the parent when it beats the parent on the
generation's mini-batch.

It speaks go-plugin's protocol directly (no Go code involved): check the
magic cookie, serve gRPC on a unix socket, print the handshake line
`1|1|unix|<socket>|grpc` on stdout, and implement the gRPC health service
and go-plugin's GRPCController (Shutdown) next to ccq's Optimizer service.
Needs Debian's python3-grpcio and python3-protobuf.
"""

import base64
import concurrent.futures
import datetime
import json
import os
import random
import signal
import sys
import tempfile
import threading

import grpc

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import optimizer_pb2 as pb  # noqa: E402  (generated from plugins/proto/optimizer.proto)
import optimizer_pb2_grpc as pb_grpc  # noqa: E402

COOKIE_KEY = "CCQ_OPTIMIZER_PLUGIN"
COOKIE_VALUE = "c7e1b0a4-ask-tell-9d2f-kbit-weights"
APP_PROTOCOL_VERSION = 1
MAX_MSG = 2**31 - 1

PARAMS = [
    ("lambda", "int", "8", "candidates per generation"),
    ("changes", "int", "4", "weights each candidate moves by one level"),
]


def log(level, message, **kv):
    """Write one hclog-style JSON line on stderr; ccq re-emits it at its level."""
    entry = {
        "@level": level,
        "@message": message,
        "@timestamp": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f+00:00"),
    }
    entry.update(kv)
    sys.stderr.write(json.dumps(entry) + "\n")
    sys.stderr.flush()


def to_levels(b):
    return [x - 256 if x > 127 else x for x in b]


def to_bytes(levels):
    return bytes((x + 256) % 256 for x in levels)


class MutationEA(pb_grpc.OptimizerServicer):
    def __init__(self):
        self.lock = threading.Lock()
        self.parent = None
        self.pending = None  # the last Ask's candidates (lists of (index, level))
        self.moved = None  # parent change not yet reported: dict index -> level

    # -- Optimizer service -------------------------------------------------

    def Info(self, request, context):
        return pb.InfoResponse(
            name="python-mutation",
            version="0.1.0",
            description="(1+lambda) mutation EA written in Python",
            params=[pb.Param(name=n, type=t, default=d, meaning=m) for n, t, d, m in PARAMS],
        )

    def Init(self, request, context):
        with self.lock:
            params = json.loads(request.params_json) if request.params_json else {}
            known = {p[0] for p in PARAMS}
            for k in params:
                if k not in known:
                    context.abort(grpc.StatusCode.INVALID_ARGUMENT, "params: unknown parameter %r (known: %s)" % (k, sorted(known)))
            self.lam = int(params.get("lambda", getattr(request, "lambda") or 8))
            self.changes = int(params.get("changes", 4))
            if self.lam < 1 or self.changes < 1:
                context.abort(grpc.StatusCode.INVALID_ARGUMENT, "params: lambda and changes must be >= 1")
            self.lo = to_levels(request.lo)
            self.hi = to_levels(request.hi)
            self.alphabet = to_levels(request.alphabet)
            self.parent = to_levels(request.start)
            self.movable = [i for i in range(len(self.parent)) if self.lo[i] < self.hi[i]]
            self.rng = random.Random(request.seed)
            self.wins = 0
            log("info", "python-mutation ready", variables=len(self.parent))
            return pb.InitResponse(max_candidates=self.lam)

    def _neighbour(self, i, v):
        allowed = [a for a in (self.alphabet or range(self.lo[i], self.hi[i] + 1)) if self.lo[i] <= a <= self.hi[i]]
        k = allowed.index(v)
        step = self.rng.choice((-1, 1))
        if not 0 <= k + step < len(allowed):
            step = -step
        if not 0 <= k + step < len(allowed):
            return v
        return allowed[k + step]

    def Ask(self, request, context):
        with self.lock:
            if self.pending is not None:
                context.abort(grpc.StatusCode.FAILED_PRECONDITION, "ask twice without a tell")
            cands = []
            for _ in range(self.lam):
                idx = sorted(self.rng.sample(self.movable, min(self.changes, len(self.movable))))
                cands.append([(i, self._neighbour(i, self.parent[i])) for i in idx])
            self.pending = cands
            resp = pb.AskResponse(stats={"wins": float(self.wins)})
            for c in cands:
                resp.candidates.append(pb.Delta(indices=[i for i, _ in c], levels=to_bytes([v for _, v in c])))
            if self.moved:
                items = sorted(self.moved.items())
                resp.base.CopyFrom(pb.Delta(indices=[i for i, _ in items], levels=to_bytes([v for _, v in items])))
                self.moved = None
            return resp

    def Tell(self, request, context):
        with self.lock:
            if self.pending is None or len(request.fitness) != len(self.pending):
                context.abort(grpc.StatusCode.FAILED_PRECONDITION, "tell does not match the last ask")
            best = min(range(len(request.fitness)), key=lambda k: request.fitness[k])
            if request.fitness[best] < request.base_fitness:
                self.moved = self.moved or {}
                for i, v in self.pending[best]:
                    self.parent[i] = v
                    self.moved[i] = v
                self.wins += 1
            self.pending = None
            return pb.TellResponse()

    def Snapshot(self, request, context):
        with self.lock:
            if self.pending is not None:
                context.abort(grpc.StatusCode.FAILED_PRECONDITION, "snapshot between ask and tell")
            version, internal, gauss = self.rng.getstate()
            state = {
                "parent": base64.b64encode(to_bytes(self.parent)).decode(),
                "moved": sorted(self.moved.items()) if self.moved else [],
                "rng": [version, list(internal), gauss],
                "wins": self.wins,
            }
            return pb.SnapshotResponse(state=json.dumps(state).encode())

    def Restore(self, request, context):
        with self.lock:
            try:
                state = json.loads(request.state)
                parent = to_levels(base64.b64decode(state["parent"]))
                version, internal, gauss = state["rng"]
                self.rng.setstate((version, tuple(internal), gauss))
            except (ValueError, KeyError, TypeError) as e:
                context.abort(grpc.StatusCode.INVALID_ARGUMENT, "restore: not a python-mutation snapshot: %s" % e)
            if len(parent) != len(self.parent):
                context.abort(grpc.StatusCode.INVALID_ARGUMENT, "restore: snapshot has %d levels, the problem %d" % (len(parent), len(self.parent)))
            self.parent = parent
            self.moved = {int(i): int(v) for i, v in state["moved"]} or None
            self.wins = int(state["wins"])
            self.pending = None
            return pb.RestoreResponse()

    def Best(self, request, context):
        with self.lock:
            return pb.BestResponse(levels=to_bytes(self.parent))


def main():
    if os.environ.get(COOKIE_KEY) != COOKIE_VALUE:
        sys.stderr.write("This is a ccq optimizer plugin; ccq starts it (see `ccq plugins`).\n")
        sys.exit(1)
    versions = os.environ.get("PLUGIN_PROTOCOL_VERSIONS", str(APP_PROTOCOL_VERSION)).split(",")
    if str(APP_PROTOCOL_VERSION) not in versions:
        sys.stderr.write("ccq speaks protocol versions %s; this plugin speaks %d\n" % (versions, APP_PROTOCOL_VERSION))
        sys.exit(1)

    # Like go-plugin's plugins, leave Ctrl-C to the host, which stops us.
    signal.signal(signal.SIGINT, signal.SIG_IGN)

    server = grpc.server(
        concurrent.futures.ThreadPoolExecutor(max_workers=4),
        options=[("grpc.max_receive_message_length", MAX_MSG), ("grpc.max_send_message_length", MAX_MSG)],
    )
    pb_grpc.add_OptimizerServicer_to_server(MutationEA(), server)

    # gRPC health service (go-plugin pings it): HealthCheckResponse{status: SERVING}
    # serialised by hand, so no extra generated code is needed.
    health = grpc.unary_unary_rpc_method_handler(lambda req, ctx: b"\x08\x01")
    server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler("grpc.health.v1.Health", {"Check": health})])

    # go-plugin's controller: Shutdown(Empty) -> Empty, then stop serving.
    def shutdown(req, ctx):
        threading.Thread(target=lambda: server.stop(1), daemon=True).start()
        return b""

    ctrl = grpc.unary_unary_rpc_method_handler(shutdown)
    server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler("plugin.GRPCController", {"Shutdown": ctrl})])

    sock = os.path.join(tempfile.mkdtemp(prefix="ccq-py-plugin-"), "plugin.sock")
    server.add_insecure_port("unix:" + sock)
    server.start()
    sys.stdout.write("1|%d|unix|%s|grpc\n" % (APP_PROTOCOL_VERSION, sock))
    sys.stdout.flush()
    server.wait_for_termination()
    try:
        os.remove(sock)
        os.rmdir(os.path.dirname(sock))
    except OSError:
        pass


if __name__ == "__main__":
    main()
