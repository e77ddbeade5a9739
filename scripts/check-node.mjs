// npm puts node_modules/.bin first on PATH, so `npm run …` uses the pinned Node 24; anything else is a mistake.
const major = Number(process.versions.node.split('.')[0]);
if (major !== 24) {
  console.error(`duka needs Node 24 (got ${process.version}). Run it through npm (npm start, npm test, npm run …), which uses the Node that npm install put in node_modules/.bin.`);
  process.exit(1);
}
