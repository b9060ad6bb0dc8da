// SigV4 against AWS's published examples: the signature test suite's "get-vanilla" request and the S3
// documentation's header-signed GET Object and ListObjects examples.
import { strict as assert } from "node:assert";
import { test } from "node:test";
import { authorization, canonicalQuery, emptyPayloadHash, signingKey, uriEncode } from "../../../controllers/source/sigv4";

const suiteCreds = { accessKeyId: "AKIDEXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY" };
const s3Creds = { accessKeyId: "AKIAIOSFODNN7EXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY" };

test("get-vanilla from the SigV4 test suite", () => {
  const auth = authorization(
    {
      method: "GET",
      path: "/",
      headers: { Host: "example.amazonaws.com", "X-Amz-Date": "20150830T123600Z" },
      payloadHash: emptyPayloadHash,
      region: "us-east-1",
      service: "service",
      date: new Date("2015-08-30T12:36:00Z"),
    },
    suiteCreds,
  );
  assert.equal(auth, "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31");
});

test("S3 GET Object example (Range header, empty payload hash)", () => {
  const auth = authorization(
    {
      method: "GET",
      path: "/test.txt",
      headers: { Host: "examplebucket.s3.amazonaws.com", Range: "bytes=0-9", "x-amz-content-sha256": emptyPayloadHash, "x-amz-date": "20130524T000000Z" },
      payloadHash: emptyPayloadHash,
      region: "us-east-1",
      service: "s3",
      date: new Date("2013-05-24T00:00:00Z"),
    },
    s3Creds,
  );
  assert.equal(
    auth,
    "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41",
  );
});

test("S3 list objects example (query parameters sorted and encoded)", () => {
  const auth = authorization(
    {
      method: "GET",
      path: "/",
      query: { "max-keys": "2", prefix: "J" },
      headers: { Host: "examplebucket.s3.amazonaws.com", "x-amz-content-sha256": emptyPayloadHash, "x-amz-date": "20130524T000000Z" },
      payloadHash: emptyPayloadHash,
      region: "us-east-1",
      service: "s3",
      date: new Date("2013-05-24T00:00:00Z"),
    },
    s3Creds,
  );
  assert.match(auth, /Signature=34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7$/);
});

test("signing key of the SigV4 documentation example", () => {
  const key = signingKey("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "20120215", "us-east-1", "iam");
  assert.equal(key.toString("hex"), "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d");
});

test("URI encoding keeps unreserved characters, encodes the rest with upper-case hex, slashes optional", () => {
  assert.equal(uriEncode("a b/c~d.e_f-g*h"), "a%20b%2Fc~d.e_f-g%2Ah");
  assert.equal(uriEncode("dir/é.yaml", false), "dir/%C3%A9.yaml");
  assert.equal(canonicalQuery({ prefix: "a b", "list-type": "2", "continuation-token": "x=y" }), "continuation-token=x%3Dy&list-type=2&prefix=a%20b");
});
