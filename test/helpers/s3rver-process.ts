// Runs s3rver in a process of its own on 127.0.0.1, for the multi-process tests and the scale
// benchmark, so its work does not share an event loop with the load generator. It prints
// {"port":N} once it listens and stops on SIGTERM. S3_DIRECTORY and S3_BUCKET configure it.
import S3rver from 's3rver';

const server = new S3rver({
  address: '127.0.0.1',
  port: 0,
  silent: true,
  directory: process.env.S3_DIRECTORY!,
  vhostBuckets: false,
  configureBuckets: [{ name: process.env.S3_BUCKET!, configs: [] }],
});
const { port } = await server.run();
console.log(JSON.stringify({ port }));
process.once('SIGTERM', () => {
  void server.close().then(() => process.exit(0));
});
