// capture_js_sdk.js - the requests of @aws-sdk/client-s3 (v3, default settings: flexible
// checksums) for gen_s3_vectors.py, which runs it against its capture server: node capture_js_sdk.js <endpoint>
const { S3Client, PutObjectCommand, ListObjectsV2Command, DeleteObjectsCommand } = require('@aws-sdk/client-s3');
const { Readable } = require('stream');
(async () => {
  const ep = process.argv[2];
  const c = new S3Client({ endpoint: ep, region: 'us-east-1', forcePathStyle: true,
    credentials: { accessKeyId: process.env.AWS_ACCESS_KEY_ID, secretAccessKey: process.env.AWS_SECRET_ACCESS_KEY },
    maxAttempts: 1 });
  const body = Buffer.from([...Array(771).keys()].map(i => i % 256));
  const run = async (cmd) => { try { await c.send(cmd); } catch (e) { console.error(String(e)); } };
  await run(new PutObjectCommand({ Bucket: 'bkt', Key: 'js key+plus ~\u00fc.bin', Body: body }));
  await run(new PutObjectCommand({ Bucket: 'bkt', Key: 'js stream', Body: Readable.from([body.subarray(0, 300), body.subarray(300)]), ContentLength: body.length }));
  await run(new ListObjectsV2Command({ Bucket: 'bkt', Prefix: 'a b/' }));
  await run(new DeleteObjectsCommand({ Bucket: 'bkt', Delete: { Objects: [{ Key: 'a' }, { Key: 'b&c' }], Quiet: true } }));
})();
