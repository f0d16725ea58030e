// An http.createServer server: /child answers from a child_process, /net
// from a `net` client connecting back to this same server over loopback.
const http = require('http');
const net = require('net');
const cp = require('child_process');
const port = +process.argv[2];
const server = http.createServer((req, res) => {
  if (req.url === '/child') {
    cp.execFile('/bin/sh', ['-c', 'echo child says $((6*7))'], (err, out) => {
      res.end(err ? 'error ' + err : out);
    });
  } else if (req.url === '/net') {
    const c = net.connect(port, '127.0.0.1', () => c.write('GET /inner HTTP/1.0\r\n\r\n'));
    let buf = '';
    c.on('data', d => buf += d);
    c.on('end', () => res.end('net client got: ' + buf.split('\r\n\r\n')[1]));
  } else {
    res.end('hello from node ' + req.url + '\n');
  }
});
server.listen(port, '127.0.0.1', () => console.log('listening'));
process.on('SIGTERM', () => {
  console.log('SIGTERM: closing');
  server.close(() => process.exit(0));
  server.closeAllConnections();
});
