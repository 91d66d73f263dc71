// Builds dist/ once: the fault tests run the server as a real child process.
const { spawnSync } = require('node:child_process');
module.exports = async () => {
  const result = spawnSync('npm', ['run', '-s', 'build'], { cwd: `${__dirname}/../..`, stdio: 'inherit' });
  if (result.status !== 0) throw new Error('build failed');
};
