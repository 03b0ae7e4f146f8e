// Runs every GraphQL-over-HTTP server audit of graphql-http against a running server.
//
//   node audit.mjs http://127.0.0.1:8000/graphql
//
// Prints one line per audit (status, id, name, and the reason of a failure) and exits
// with 1 when any MUST or SHOULD audit does not pass (graphql-http reports a failed
// MUST as "error" and a failed SHOULD as "warn"; a failed MAY is only a "notice").
import { serverAudits } from 'graphql-http';

const url = process.argv[2];
if (!url) {
  console.error('usage: node audit.mjs <graphql endpoint URL>');
  process.exit(2);
}

const results = [];
for (const { fn } of serverAudits({ url })) {
  results.push(await fn()); // one at a time: the server's logs stay readable
}

let failed = 0;
for (const result of results) {
  const level = result.name.split(' ', 1)[0];
  const line = `${result.status.toUpperCase().padEnd(6)} ${result.id} ${result.name}`;
  if (result.status === 'ok') {
    console.log(line);
    continue;
  }
  let body = '';
  try {
    body = await result.response.text();
  } catch {
    // the body was already read by the audit itself
  }
  console.log(`${line}\n       reason: ${result.reason}; status ${result.response.status}; body ${body.slice(0, 300)}`);
  if (level === 'MUST' || level === 'SHOULD') failed += 1;
}
const counts = {};
for (const result of results) counts[result.status] = (counts[result.status] || 0) + 1;
console.log(`summary: ${JSON.stringify(counts)}; MUST/SHOULD failures: ${failed}`);
process.exit(failed ? 1 : 0);
