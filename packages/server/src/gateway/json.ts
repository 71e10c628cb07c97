// The gateway's codec: proto3 JSON as etcd 3.4's grpc-gateway writes and reads it
// (runtime.JSONPb{OrigName: true}: field names as in the .proto, int64 as strings, bytes as
// base64, enums by name, default values omitted; unknown request fields ignored).
// It converts through the wire bytes, so the services get exactly what a gRPC client's
// bytes would decode to (the generated ts-proto decoders), with @bufbuild/protobuf's
// descriptor-driven JSON on the other side.
import { fromBinary, fromJsonString, toBinary, toJsonString, type DescMessage } from '@bufbuild/protobuf';
import { descriptors, requestTypeOf, responseTypeOf } from '@kv/api';

function messageDesc(typeName: string | undefined, grpcPath: string): DescMessage {
  const desc = typeName === undefined ? undefined : descriptors().getMessage(typeName);
  if (!desc) throw new Error(`gateway: no message descriptor for ${grpcPath}`);
  return desc;
}

/** A request body (JSON text; empty means {}) → the request's protobuf wire bytes. Throws on bad JSON. */
export function requestBytes(grpcPath: string, body: string): Uint8Array {
  const desc = messageDesc(requestTypeOf(grpcPath), grpcPath);
  const msg = fromJsonString(desc, body.trim() === '' ? '{}' : body, { ignoreUnknownFields: true });
  return toBinary(desc, msg);
}

/** A response's protobuf wire bytes → its JSON text as etcd's gateway writes it. */
export function responseJson(grpcPath: string, bytes: Uint8Array): string {
  const desc = messageDesc(responseTypeOf(grpcPath), grpcPath);
  return toJsonString(desc, fromBinary(desc, bytes), { useProtoFieldName: true });
}
