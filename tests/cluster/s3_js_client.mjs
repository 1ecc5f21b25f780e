// The current @aws-sdk/client-s3 from npm, with its default settings (flexible checksums on every
// upload, CRC32 by default, aws-chunked with a trailer for streamed bodies), against a cluster.
// Usage: node s3_js_client.mjs ENDPOINT REGION ACCESS SECRET BUCKET [ROOT_DOMAIN]
// With ROOT_DOMAIN the SDK's default virtual-host addressing is used (no forcePathStyle):
// ENDPOINT is then http://ROOT_DOMAIN:PORT and every *.ROOT_DOMAIN resolves to 127.0.0.1.
// Prints "ok <step>" per step and exits non-zero with the error on the first failure.
import { createHash } from "node:crypto";
import dns from "node:dns";
import http from "node:http";
import { Readable } from "node:stream";
import {
  S3Client, CreateBucketCommand, HeadBucketCommand, PutObjectCommand, GetObjectCommand,
  HeadObjectCommand, ListObjectsV2Command, DeleteObjectsCommand, DeleteObjectCommand,
  CreateMultipartUploadCommand, UploadPartCommand, CompleteMultipartUploadCommand,
  CopyObjectCommand, DeleteBucketCommand, ListBucketsCommand,
} from "@aws-sdk/client-s3";
import { Upload } from "@aws-sdk/lib-storage";

const [endpoint, region, accessKeyId, secretAccessKey, bucket, rootDomain] =
  process.argv.slice(2);
const options = { endpoint, region, credentials: { accessKeyId, secretAccessKey }, maxAttempts: 1 };
if (rootDomain) {
  const lookup = (host, opts, cb) => dns.lookup(
    host === rootDomain || host.endsWith("." + rootDomain) ? "127.0.0.1" : host, opts, cb);
  options.requestHandler = { httpAgent: new http.Agent({ keepAlive: true, lookup }) };
} else {
  options.forcePathStyle = true;
}
const s3 = new S3Client(options);
const hosts = new Set();
s3.middlewareStack.add((next) => async (args) => {
  hosts.add(args.request.hostname);
  return next(args);
}, { step: "finalizeRequest", name: "hsRecordHost" });

function md5(buf) { return createHash("md5").update(buf).digest("hex"); }
function bytes(n, seed) {
  const b = Buffer.alloc(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) { x ^= x << 13; x ^= x >>> 17; x ^= x << 5; b[i] = x & 0xff; }
  return b;
}
async function body(res) { return Buffer.from(await res.Body.transformToByteArray()); }
function check(cond, what) { if (!cond) throw new Error("check failed: " + what); }
function ok(step) { console.log("ok " + step); }

await s3.send(new CreateBucketCommand({ Bucket: bucket })); ok("create-bucket");
await s3.send(new HeadBucketCommand({ Bucket: bucket })); ok("head-bucket");
const buckets = await s3.send(new ListBucketsCommand({}));
check(buckets.Buckets.some((b) => b.Name === bucket), "bucket listed"); ok("list-buckets");

// A small object with metadata: the SDK adds x-amz-checksum-crc32 by default.
const small = bytes(1024, 7);
const put = await s3.send(new PutObjectCommand({
  Bucket: bucket, Key: "dir/small.bin", Body: small, ContentType: "application/x-test",
  Metadata: { color: "blue" },
}));
check(put.ETag === `"${md5(small)}"`, "small ETag is the quoted MD5"); ok("put-small");

const got = await s3.send(new GetObjectCommand({
  Bucket: bucket, Key: "dir/small.bin", ChecksumMode: "ENABLED",
}));
const gotBody = await body(got);
check(gotBody.equals(small), "small round-trip");
check(got.ContentType === "application/x-test", "content type kept");
check(got.Metadata && got.Metadata.color === "blue", "user metadata kept"); ok("get-small");

// A streamed body of declared length: aws-chunked with a checksum trailer.
const streamed = bytes(3 * 1024 * 1024 + 5, 11);
await s3.send(new PutObjectCommand({
  Bucket: bucket, Key: "dir/streamed.bin", Body: Readable.from([streamed]),
  ContentLength: streamed.length,
}));
const gotStreamed = await body(await s3.send(new GetObjectCommand({
  Bucket: bucket, Key: "dir/streamed.bin",
})));
check(gotStreamed.equals(streamed), "streamed round-trip"); ok("put-streamed");

// A stream of unknown length: PutObject cannot sign it (the SDK needs the decoded length), so
// lib-storage's Upload sends it as multipart with the default CRC32 on every part.
async function* pieces(n, size) { for (let i = 0; i < n; i++) yield bytes(size, 100 + i); }
const unknown = Buffer.concat([...Array(12).keys()].map((i) => bytes(1000 * 1000, 100 + i)));
const upload = new Upload({
  client: s3,
  params: { Bucket: bucket, Key: "dir/unknown.bin", Body: Readable.from(pieces(12, 1000 * 1000)) },
  partSize: 5 * 1024 * 1024,
});
const uploaded = await upload.done();
check(/^"[0-9a-f]{32}-3"$/.test(uploaded.ETag), "unknown-length upload ETag " + uploaded.ETag);
const gotUnknown = await s3.send(new GetObjectCommand({
  Bucket: bucket, Key: "dir/unknown.bin", ChecksumMode: "ENABLED",
}));
check((await body(gotUnknown)).equals(unknown), "unknown-length round-trip");
check(/^[A-Za-z0-9+/=]{8}-3$/.test(gotUnknown.ChecksumCRC32 || ""), "composite CRC32 returned");
ok("upload-unknown-length");

const range = await s3.send(new GetObjectCommand({
  Bucket: bucket, Key: "dir/streamed.bin", Range: "bytes=100-199",
}));
check((await body(range)).equals(streamed.subarray(100, 200)), "range"); ok("get-range");

// Multipart with the SDK's default checksum on every part.
const partSize = 5 * 1024 * 1024;
const big = bytes(2 * partSize + 1234, 13);
const mpu = await s3.send(new CreateMultipartUploadCommand({
  Bucket: bucket, Key: "big.bin", ChecksumAlgorithm: "CRC32",
}));
const parts = [];
for (let i = 0, n = 1; i < big.length; i += partSize, n++) {
  const res = await s3.send(new UploadPartCommand({
    Bucket: bucket, Key: "big.bin", UploadId: mpu.UploadId, PartNumber: n,
    Body: big.subarray(i, i + partSize), ChecksumAlgorithm: "CRC32",
  }));
  parts.push({ PartNumber: n, ETag: res.ETag, ChecksumCRC32: res.ChecksumCRC32 });
}
const done = await s3.send(new CompleteMultipartUploadCommand({
  Bucket: bucket, Key: "big.bin", UploadId: mpu.UploadId, MultipartUpload: { Parts: parts },
}));
check(/^"[0-9a-f]{32}-3"$/.test(done.ETag), "multipart ETag has -3");
const gotBig = await body(await s3.send(new GetObjectCommand({ Bucket: bucket, Key: "big.bin" })));
check(gotBig.equals(big), "multipart round-trip"); ok("multipart");

await s3.send(new CopyObjectCommand({
  Bucket: bucket, Key: "copy of small.bin", CopySource: `${bucket}/dir/small.bin`,
}));
const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: "copy of small.bin" }));
check(head.ContentLength === small.length && head.ETag === `"${md5(small)}"`, "copy");
ok("copy");

const list = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Delimiter: "/" }));
const keys = (list.Contents || []).map((o) => o.Key).sort();
const prefixes = (list.CommonPrefixes || []).map((p) => p.Prefix);
check(JSON.stringify(keys) === JSON.stringify(["big.bin", "copy of small.bin"]), "list keys " + keys);
check(JSON.stringify(prefixes) === JSON.stringify(["dir/"]), "list prefixes " + prefixes);
ok("list");

// DeleteObjects: the newest SDK sends a flexible checksum and no Content-MD5.
const del = await s3.send(new DeleteObjectsCommand({
  Bucket: bucket,
  Delete: { Objects: [{ Key: "dir/small.bin" }, { Key: "dir/streamed.bin" }, { Key: "big.bin" },
    { Key: "dir/unknown.bin" }] },
}));
check((del.Deleted || []).length === 4 && !(del.Errors || []).length, "delete-objects");
await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: "copy of small.bin" }));
await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: "never existed" }));
ok("delete");

await s3.send(new DeleteBucketCommand({ Bucket: bucket })); ok("delete-bucket");
const style = rootDomain ? `${bucket}.${rootDomain}` : new URL(endpoint).hostname;
check(hosts.has(style), "addressing: requests went to " + [...hosts].join(","));
ok("addressing " + (rootDomain ? "virtual-host" : "path"));
