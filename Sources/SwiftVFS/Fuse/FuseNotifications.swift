import CFuse
import SwiftVFSCore

/// Where the bridge's notifications to the kernel go: libfuse's session
/// (`fuse_lowlevel_notify_*`), or the native engine's connection.
enum FuseNotificationTarget: @unchecked Sendable {
  /// libfuse's session, which writes to its /dev/fuse descriptor.
  case libfuse(OpaquePointer)
  /// The native engine's connection (Engine/FuseConnection.swift).
  case native(FuseConnection)

  /// Like fuse_lowlevel_notify_inval_inode(): drop the kernel's cached
  /// pages of `nodeID` from `offset` for `length` bytes (0: to the end;
  /// offset -1: attributes only). 0 or a negative errno (ENOENT: not cached).
  @discardableResult
  func invalidateInode(_ nodeID: UInt64, offset: Int64, length: Int64) -> Int32 {
    switch self {
    case .libfuse(let session):
      return fuse_lowlevel_notify_inval_inode(session, nodeID, off_t(offset), off_t(length))
    case .native(let connection):
      return connection.invalidateInode(nodeID, offset: offset, length: length)
    }
  }

  /// Like fuse_lowlevel_notify_inval_entry(): drop the kernel's dentry
  /// `name` in directory `parent`.
  @discardableResult
  func invalidateEntry(parent: UInt64, name: [UInt8]) -> Int32 {
    switch self {
    case .libfuse(let session):
      // libfuse sends the terminating NUL too: it must be there.
      let terminated = name + [0]
      return terminated.withUnsafeBufferPointer { raw in
        raw.withMemoryRebound(to: CChar.self) {
          fuse_lowlevel_notify_inval_entry(session, parent, $0.baseAddress, name.count)
        }
      }
    case .native(let connection):
      return connection.invalidateEntry(parent: parent, name: name)
    }
  }
}
