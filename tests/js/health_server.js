'use strict';
// health_server.js: a grpc-js backend for warm's keepalive tests
// (tests/health/keepalive_test.cc).
//
// Serves grpc.health.v1.Health (Check and Watch, from the grpc-health-check
// package) with the overall ("") status SERVING. A Watch stream gets SERVING
// once and then nothing: the quiet stream whose keepalive pings the tests
// look at.
//
// Usage: node health_server.js [--host H] [--port N] [--option KEY=VALUE]...
//   --host    address to listen on (default 127.0.0.1)
//   --port    port, 0 for a free one (default 0)
//   --option  a grpc.Server channel option, e.g.
//             --option grpc.keepalive_time_ms=7200000 (repeatable; values
//             that look like integers are passed as numbers)
//
// Writes one line per event on stdout, for the test to read:
//   LISTENING <port>            bound and serving
//   SESSION <n> <addr>:<port>   HTTP/2 connection n opened by a client
//   PING <n>                    a PING frame received on connection n
//   GOAWAY_SENT <n> <code>      this server sent GOAWAY on connection n
//   CLOSED <n>                  connection n closed
//   CALL <method path> <peer>   a call started
// Runs until killed.

const http2 = require('http2');

function print(line) {
  process.stdout.write(line + '\n');
}

function parseArgs(argv) {
  const args = { host: '127.0.0.1', port: 0, options: {} };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const value = argv[i + 1];
    if (value === undefined) throw new Error(`${flag} needs a value`);
    i++;
    if (flag === '--host') {
      args.host = value;
    } else if (flag === '--port') {
      args.port = Number(value);
    } else if (flag === '--option') {
      const eq = value.indexOf('=');
      if (eq <= 0) throw new Error(`--option ${value}: expected KEY=VALUE`);
      const key = value.slice(0, eq);
      const raw = value.slice(eq + 1);
      args.options[key] = /^-?\d+$/.test(raw) ? Number(raw) : raw;
    } else {
      throw new Error(`unknown argument ${flag}`);
    }
  }
  return args;
}

// grpc-js has no hook for connections or PING frames, so watch Node's HTTP/2
// sessions directly: grpc-js calls http2.createServer() when it binds, after
// this wrapper is in place. This only observes; grpc-js still handles every
// frame itself (Node's http2 answers PINGs).
let sessionCount = 0;
const originalCreateServer = http2.createServer;
http2.createServer = function createServer(...createArgs) {
  const server = originalCreateServer.apply(this, createArgs);
  server.on('session', (session) => {
    const n = ++sessionCount;
    const socket = session.socket;
    print(`SESSION ${n} ${socket.remoteAddress}:${socket.remotePort}`);
    session.on('ping', () => print(`PING ${n}`));
    const originalGoaway = session.goaway;
    session.goaway = function goaway(code, ...rest) {
      print(`GOAWAY_SENT ${n} ${code === undefined ? 0 : code}`);
      return originalGoaway.call(this, code, ...rest);
    };
    session.on('close', () => print(`CLOSED ${n}`));
  });
  return server;
};

const grpc = require('@grpc/grpc-js');
const { HealthImplementation } = require('grpc-health-check');

function main() {
  const args = parseArgs(process.argv.slice(2));
  const logCalls = (methodDescriptor, call) => {
    print(`CALL ${methodDescriptor.path} ${call.getPeer()}`);
    return new grpc.ServerInterceptingCall(call);
  };
  const server = new grpc.Server({ ...args.options, interceptors: [logCalls] });
  new HealthImplementation({ '': 'SERVING' }).addToServer(server);
  server.bindAsync(`${args.host}:${args.port}`,
                   grpc.ServerCredentials.createInsecure(), (error, port) => {
    if (error) {
      process.stderr.write(`health_server: bind failed: ${error.message}\n`);
      process.exit(1);
    }
    print(`LISTENING ${port}`);
  });
}

main();
