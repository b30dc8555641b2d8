// Scrapes a /metrics URL every 100 ms for the given seconds and prints the latencies (ms) as JSON.
// A process of its own, so the load generator's event loop does not add to what is measured.
const http = require("node:http");
const [url, seconds] = process.argv.slice(2);
const agent = new http.Agent({ keepAlive: true });
const latencies = [];
const end = Date.now() + Number(seconds) * 1000;
function once() {
  if (Date.now() > end) {
    process.stdout.write(JSON.stringify(latencies));
    agent.destroy();
    return;
  }
  const start = process.hrtime.bigint();
  http.get(url, { agent }, (res) => {
    res.resume();
    res.on("end", () => {
      latencies.push(Number(process.hrtime.bigint() - start) / 1e6);
      setTimeout(once, 100);
    });
  });
}
once();
