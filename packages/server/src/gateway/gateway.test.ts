import { describe, expect, it } from 'vitest';
import { etcdserverpb } from '@kv/api';
import { httpStatusOf } from './errors.js';
import { requestBytes, responseJson } from './json.js';
import { isGatewayPath, routeOf } from './routes.js';
import { answerGateway } from './index.js';
import { Metadata } from '@grpc/grpc-js';
import { JsonObjectSplitter, serveStream } from './streams.js';

describe('gateway routes', () => {
  it('maps etcd 3.4 paths, /v3beta/ read as /v3/', () => {
    expect(routeOf('/v3/kv/put')).toEqual({ service: 'kv', method: 'put', stream: false });
    expect(routeOf('/v3beta/kv/deleterange')).toEqual({ service: 'kv', method: 'deleteRange', stream: false });
    expect(routeOf('/v3/kv/lease/timetolive')?.method).toBe('leaseTimeToLive');
    expect(routeOf('/v3/maintenance/hash')?.method).toBe('hashKv');
    expect(routeOf('/v3/watch')?.stream).toBe(true);
    expect(routeOf('/v3/kv/nope')).toBeUndefined();
    expect(routeOf('/v3alpha/kv/put')).toBeUndefined();
    expect(isGatewayPath('/v3alpha/kv/put')).toBe(false);
  });
  it('maps gRPC codes to grpc-gateway v1 statuses', () => {
    expect([3, 7, 9, 11, 14, 16, 2].map(httpStatusOf)).toEqual([400, 403, 412, 400, 503, 401, 500]);
  });
});

describe('gateway codec', () => {
  it('reads camelCase or proto names, int64 strings and base64, ignoring unknown fields', () => {
    const path = '/etcdserverpb.KV/Range';
    const req = etcdserverpb.RangeRequest.decode(
      requestBytes(path, '{"key":"Zm9v","range_end":"Zm9w","keysOnly":true,"limit":"5","sort_order":"DESCEND","zzz":1}'),
    );
    expect(Buffer.from(req.key).toString()).toBe('foo');
    expect(Buffer.from(req.rangeEnd).toString()).toBe('foo'.slice(0, 2) + 'p');
    expect(req.keysOnly).toBe(true);
    expect(req.limit).toBe(5n);
    expect(req.sortOrder).toBe(etcdserverpb.RangeRequest_SortOrder.DESCEND);
    expect(etcdserverpb.RangeRequest.decode(requestBytes(path, '')).key.length).toBe(0);
    expect(() => requestBytes(path, '{bad')).toThrow();
  });
  it('writes as JSONPb{OrigName:true}: proto names, int64 strings, defaults omitted', () => {
    const resp = etcdserverpb.StatusResponse.fromPartial({
      header: { clusterId: 1n, memberId: 2n, revision: 3n, raftTerm: 0n },
      version: '3.4.23',
      dbSize: 24576n,
    });
    const json = responseJson('/etcdserverpb.Maintenance/Status', etcdserverpb.StatusResponse.encode(resp).finish());
    expect(json).toBe('{"header":{"cluster_id":"1","member_id":"2","revision":"3"},"version":"3.4.23","dbSize":"24576"}');
    const ml = etcdserverpb.MemberListResponse.fromPartial({ members: [{ ID: 7n, name: 'e', peerURLs: ['http://a'] }] });
    expect(responseJson('/etcdserverpb.Cluster/MemberList', etcdserverpb.MemberListResponse.encode(ml).finish())).toBe(
      '{"members":[{"ID":"7","name":"e","peerURLs":["http://a"]}]}',
    );
  });
});

describe('answerGateway', () => {
  const put = etcdserverpb.PutResponse.fromPartial({ header: { revision: 9n } });
  const impls = {
    kv: {
      put: (call: { request: etcdserverpb.PutRequest }, cb: (e: unknown, r?: unknown) => void) =>
        Buffer.from(call.request.key).toString() === 'foo' ? cb(null, put) : cb({ code: 3, details: 'etcdserver: key is not provided' }),
    },
  } as never;
  const ask = (method: string, path: string, body: string) =>
    answerGateway(
      {
        method,
        path,
        headers: {},
        body: async () => body,
        bodyStream: (async function* () {})(),
        sink: { writeHead() {}, write: () => true, end() {}, onDrain() {} },
        onClose: () => {},
      },
      impls,
    );
  it('calls the implementation and answers its response or its error as etcd', async () => {
    expect(await ask('POST', '/v3/kv/put', '{"key":"Zm9v"}')).toMatchObject({ status: 200, body: '{"header":{"revision":"9"}}' });
    expect(await ask('POST', '/v3/kv/put', '{}')).toMatchObject({
      status: 400,
      body: '{"error":"etcdserver: key is not provided","message":"etcdserver: key is not provided","code":3}',
    });
    expect((await ask('POST', '/v3/kv/put', '{"key":'))!.status).toBe(400);
    expect((await ask('GET', '/v3/kv/put', ''))!.status).toBe(405);
    expect(await ask('POST', '/v3/kv/nope', '{}')).toMatchObject({ status: 404, body: 'Not Found\n' });
  });
});

describe('stream body splitter', () => {
  it('cuts concatenated JSON objects however the chunks fall, strings with braces included', () => {
    const sp = new JsonObjectSplitter();
    expect(sp.push('{"a":"}{"}\n{"b"')).toEqual(['{"a":"}{"}']);
    expect(sp.push(':[1,{"c":2}]}  {')).toEqual(['{"b":[1,{"c":2}]}']);
    expect(sp.rest()).toBe('{');
    expect(new JsonObjectSplitter().push(' x{}')).toEqual(['x{}']);
  });
});

describe('stream backpressure', () => {
  it("a full response buffer makes the call's write() false, and its drain is passed on", async () => {
    const lines: string[] = [];
    let drain: (() => void) | undefined;
    let full = true;
    const sink = {
      writeHead() {},
      write: (c: string) => (lines.push(c), !full),
      end() {},
      onDrain: (f: () => void) => {
        drain = f;
      },
    };
    const seen: string[] = [];
    const impls = {
      watch: {
        watch(call: { write(m: unknown): boolean; on(e: string, f: () => void): void }) {
          seen.push(`write ${call.write(etcdserverpb.WatchResponse.fromPartial({ watchId: 1n }))}`);
          call.on('drain', () => seen.push(`drain, write ${call.write(etcdserverpb.WatchResponse.fromPartial({ watchId: 2n }))}`));
        },
      },
    } as never;
    serveStream(routeOf('/v3/watch')!, { metadata: new Metadata(), body: (async function* () {})(), onClose: () => {} }, sink, impls);
    expect(seen).toEqual(['write false']);
    full = false;
    drain!();
    expect(seen).toEqual(['write false', 'drain, write true']);
    expect(lines).toEqual(['{"result":{"watch_id":"1"}}\n', '{"result":{"watch_id":"2"}}\n']);
  });
});
