// A partner's client in Node: only the .proto files and an API key, nothing from this repo's code.
// Usage: node client.js <gateway host:port> <proto root> <api key or "-"> <claim id>
// Prints one JSON line: {"ok": true, "claim": ...} or {"ok": false, "code": <grpc code>, ...}.
'use strict';

const path = require('path');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');

const [address, protoRoot, apiKey, claimId] = process.argv.slice(2);

const definition = protoLoader.loadSync(
  path.join(protoRoot, 'oonledger/claims/v1/claims.proto'),
  { includeDirs: [protoRoot], keepCase: false, longs: String, enums: String, defaults: true },
);
const { ClaimsService } = grpc.loadPackageDefinition(definition).oonledger.claims.v1;
const client = new ClaimsService(address, grpc.credentials.createInsecure());

const metadata = new grpc.Metadata();
if (apiKey !== '-') metadata.set('authorization', `Bearer ${apiKey}`);
// A partner cannot choose its tenant: the gateway replaces this with the key's tenant.
metadata.set('x-tenant-id', 'not-my-tenant');

const deadline = new Date(Date.now() + 10000);
client.GetClaim({ claimId }, metadata, { deadline }, (error, reply) => {
  if (error) {
    console.log(JSON.stringify({ ok: false, code: error.code, details: error.details }));
  } else {
    console.log(JSON.stringify({ ok: true, claim: reply.claim }));
  }
  client.close();
});
