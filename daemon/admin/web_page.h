// The web view at / (docs/operations.md, "Admin endpoint and metrics"): one static page whose
// script reads the endpoint's JSON — this member (srvr), the ensemble (voting_view: members,
// roles, lag) and the tree (/tree, one directory at a time, in pages) — and shows it. Read-only:
// the page can ask for nothing the JSON routes do not give anyone.
//
//   $ chromium --headless --virtual-time-budget=5000 --dump-dom 'http://127.0.0.1:8080/#/app'
#pragma once

namespace quorumfs::admin {

inline constexpr const char* kWebPage = R"html(<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>quorumfs</title>
<style>
body { font-family: sans-serif; margin: 1.5em; color: #222; }
h1 { font-size: 1.3em; } h2 { font-size: 1.1em; margin-top: 1.5em; }
table { border-collapse: collapse; } td, th { border: 1px solid #ccc; padding: 0.2em 0.6em; text-align: left; }
th { background: #f3f3f3; } .this { font-weight: bold; } .error { color: #b00; }
pre { background: #f7f7f7; padding: 0.5em; max-width: 60em; overflow: auto; }
a { text-decoration: none; }
</style>
</head>
<body>
<h1>quorumfs <span id="member"></span></h1>
<p id="summary"></p>
<h2>Ensemble</h2>
<table id="members"><thead><tr><th>id</th><th>address</th><th>type</th><th>role</th><th>acked zxid</th><th>lag (txns)</th></tr></thead><tbody></tbody></table>
<p id="ensemble-note"></p>
<h2>Tree: <span id="path"></span></h2>
<p id="node-stat"></p>
<pre id="node-data"></pre>
<table id="children"><thead><tr><th>name</th><th>type</th><th>data bytes</th><th>children</th></tr></thead><tbody></tbody></table>
<p id="more"></p>
<p id="tree-error" class="error"></p>
<script>
"use strict";
function text(id, value) { document.getElementById(id).textContent = value; }
function cell(row, value) { const td = document.createElement("td"); td.textContent = value; row.appendChild(td); return td; }
async function json(url) {
  const response = await fetch(url, {cache: "no-store"});
  const body = await response.json();
  if (!response.ok) throw new Error(body.error || response.statusText);
  return body;
}
function currentPath() {
  const hash = decodeURIComponent(location.hash.slice(1));
  return hash.startsWith("/") ? hash : "/";
}
function join(parent, name) { return parent === "/" ? "/" + name : parent + "/" + name; }

async function showMember() {
  const srvr = await json("/commands/srvr");
  const stats = srvr.server_stats;
  text("member", "(" + stats.server_state + ")");
  text("summary", "zxid 0x" + stats.last_processed_zxid.toString(16) + ", " + srvr.node_count + " znodes, " +
       (srvr.read_only ? "read-only (no quorum)" : "serving") + ", up " + Math.round(stats.uptime / 1000) + " s");
  const view = await json("/commands/voting_view");
  const body = document.querySelector("#members tbody");
  body.replaceChildren();
  if (view.members.length === 0) {
    const row = document.createElement("tr");
    row.className = "member this";
    [srvr.command ? "this member" : "", "", "participant", stats.server_state, "0x" + stats.last_processed_zxid.toString(16), "0"]
      .forEach(value => cell(row, value));
    body.appendChild(row);
    text("ensemble-note", "A standalone member: an ensemble of one.");
    return;
  }
  for (const member of view.members) {
    const row = document.createElement("tr");
    row.className = "member" + (member.this_member ? " this" : "");
    row.dataset.id = member.id;
    [member.id, member.address, member.type, member.role, member.acked_zxid ?? "", member.lag_txns ?? ""]
      .forEach(value => cell(row, value));
    body.appendChild(row);
  }
  text("ensemble-note", view.members.some(m => m.lag_txns !== null && !m.this_member) ? "" :
       "Acked zxids and lag are known to the leader only: open the leader's admin endpoint to see them.");
}

async function showTree(after) {
  const path = currentPath();
  text("path", path);
  text("tree-error", "");
  const body = document.querySelector("#children tbody");
  if (!after) body.replaceChildren();
  let node;
  try {
    node = await json("/tree?path=" + encodeURIComponent(path) + (after ? "&after=" + encodeURIComponent(after) : ""));
  } catch (error) {
    text("tree-error", error.message);
    return;
  }
  const stat = node.stat;
  text("node-stat", (node.directory ? "directory" : "file") + ", mode " + node.mode + ", version " + stat.version +
       ", " + stat.dataLength + " data bytes, " + stat.numChildren + " children, mzxid " + stat.mzxid + ", acl " + node.acl);
  text("node-data", node.data + (node.data_truncated ? "\n... (cut)" : ""));
  if (path !== "/" && !after) {
    const up = document.createElement("tr");
    const link = document.createElement("a");
    link.href = "#" + (path.substring(0, path.lastIndexOf("/")) || "/");
    link.textContent = "..";
    cell(up, "").appendChild(link);
    body.appendChild(up);
  }
  for (const child of node.children) {
    const row = document.createElement("tr");
    row.className = "child";
    const name = cell(row, "");
    if (child.readable) {
      const link = document.createElement("a");
      link.href = "#" + join(path, child.name);
      link.textContent = child.name;
      name.appendChild(link);
    } else {
      name.textContent = child.name + " (not readable by everyone)";
    }
    [child.directory ? "dir" : "file", child.dataLength, child.numChildren].forEach(value => cell(row, value));
    body.appendChild(row);
  }
  const more = document.getElementById("more");
  more.replaceChildren();
  if (node.next_after !== null) {
    const button = document.createElement("button");
    button.textContent = "more";
    button.onclick = () => showTree(node.next_after);
    more.appendChild(button);
  }
}

function refresh() { showMember().catch(error => text("ensemble-note", error.message)); showTree(); }
window.addEventListener("hashchange", () => showTree());
refresh();
setInterval(() => showMember().catch(error => text("ensemble-note", error.message)), 5000);
</script>
</body>
</html>
)html";

}  // namespace quorumfs::admin
