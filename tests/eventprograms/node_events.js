const fs = require("fs"), os = require("os"), path = require("path"), crypto = require("crypto");
const order = [];
setTimeout(() => order.push("t50"), 50);
setTimeout(() => order.push("t10"), 10);
let ticks = 0;
const iv = setInterval(() => { if (++ticks === 3) clearInterval(iv); }, 20);
console.log(crypto.createHash("sha256").update("kvmsentry").digest("hex").slice(0, 16));
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "nodewatch-"));
const w = fs.watch(dir, (type, name) => {
  if (name !== "file.txt") return;
  w.close();
  console.log("watch:", type, name);
  setTimeout(() => {
    console.log(order.join(" "), "interval ticks", ticks);
    fs.rmSync(dir, {recursive: true});
  }, 150);
});
setTimeout(() => fs.writeFileSync(path.join(dir, "file.txt"), "x"), 30);
