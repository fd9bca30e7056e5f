/**
 * The subset of containerd's API Sonde calls, written by hand (no Debian or npm package ships a runtime
 * copy): `containerd.services.containers.v1.Containers/{Get,List}` from
 * api/services/containers/v1/containers.proto, with google.protobuf.Any/Timestamp declared locally under the
 * same field numbers (wire-compatible). test/unit/internal/runtime.test.ts checks every field number and type
 * against the .proto that Debian's golang-github-containerd-containerd-dev ships, when it is installed.
 */
export const CONTAINERD_PROTO = `
syntax = "proto3";
package containerd.services.containers.v1;

message Any { string type_url = 1; bytes value = 2; }
message Timestamp { int64 seconds = 1; int32 nanos = 2; }

service Containers {
  rpc Get(GetContainerRequest) returns (GetContainerResponse);
  rpc List(ListContainersRequest) returns (ListContainersResponse);
}

message Container {
  string id = 1;
  map<string, string> labels = 2;
  string image = 3;
  message Runtime {
    string name = 1;
    Any options = 2;
  }
  Runtime runtime = 4;
  Any spec = 5;
  string snapshotter = 6;
  string snapshot_key = 7;
  Timestamp created_at = 8;
  Timestamp updated_at = 9;
  map<string, Any> extensions = 10;
}

message GetContainerRequest { string id = 1; }
message GetContainerResponse { Container container = 1; }
message ListContainersRequest { repeated string filters = 1; }
message ListContainersResponse { repeated Container containers = 1; }
`;

/** Decoded shape (proto-loader options: keepCase, longs as strings, defaults on). */
export interface ContainerdContainer {
  id: string;
  labels: Record<string, string>;
  image: string;
  runtime?: { name: string } | null;
  spec?: { type_url: string; value: Buffer } | null;
  created_at?: { seconds: string; nanos: number } | null;
}
