// Container runtime metadata clients (Docker, containerd, CRI-O) and the cached lookup service.
export { ContainerMetadataService } from './service.js';
export type { MetadataStats } from './service.js';
export { runtimesSchema, defaultRuntimesConfig, DEFAULT_CONTAINERD_SOCKETS } from './config.js';
export type { RuntimesConfig } from './config.js';
export { parseImageRef, k8sIdentity, RuntimeUnavailableError } from './metadata.js';
export type { ContainerMetadata, K8sIdentity, InspectHint, RuntimeClient } from './metadata.js';
export { DockerClient, dockerMetadata } from './docker.js';
export { CrioClient, crioMetadata } from './crio.js';
export { ContainerdClient, containerdMetadata, containerdGrpcObject, containersService } from './containerd.js';
export { CONTAINERD_PROTO } from './containerd-proto.js';
export type { ContainerdContainer } from './containerd-proto.js';
