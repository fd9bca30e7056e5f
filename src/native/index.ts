// The BPF layer's public surface (explicit exports, no `export *`).
export type {
  NativeBinding, ObjectHandle, LinkHandle, RingHandle, NetlinkHandle, OpenOptions, ProgramInfo, MapInfo, RodataVar, LinkInfo,
  MapEntries, MemlockLimit, RingStats, RingStartOptions, Layouts, StructLayout, FieldLayout, LibbpfLogLevel, NativeLogFn,
} from './binding.js';
export { loadNative, defaultBindingPath, defaultObjectDir, type NativeLogger, type LoadNativeOptions } from './load.js';
export {
  NativeError, BpfError, PermissionError, NotSupportedError, VerifierError, toBpfError, mapErrors, PERMISSION_REMEDY,
  type BpfErrorFields, type ErrorContext,
} from './errors.js';
export { BpfObject, BpfLink, BpfMap, type RingReaderOptions } from './bpf-object.js';
export { RingReader, type BatchFn, type RingReaderStartOptions } from './ring-reader.js';
export { forEachRecord, encodeRecords, viewOf, type RecordFn } from './ring-records.js';
export {
  checkEnvironment, assertEnvironment, checkPrivileges, checkBtf, checkTracefs, checkMemlock,
  type EnvironmentCheck, type EnvironmentOptions, type CheckName,
} from './env.js';
export { NetlinkSocket, buildMessage, parseMessages, parseAttrs, errorOf, type NlAttr, type NlMessage } from './netlink.js';
export { FakeNative, type FakeNativeOptions, type FakeObjectSpec } from './fake.js';
export { STRUCTS, ENUMS } from './layouts.generated.js';
