// A request as the decoder hands it on: the header, the typed body, and the
// extensions. Every field here has been checked against the message's bounds.

import SwiftVFSCore

/// A file or xattr name from a request, without its NUL: checked non-empty,
/// at most 255 bytes, and (for directory entries) free of '/'.
public struct FuseName: Sendable, Hashable, CustomStringConvertible {
  /// The name's bytes (Linux names need not be UTF-8).
  public let bytes: [UInt8]
  /// Wraps bytes the decoder has checked.
  public init(_ bytes: [UInt8]) { self.bytes = bytes }
  /// The name as a String (invalid UTF-8 repaired with U+FFFD).
  public var string: String { String(decoding: bytes, as: UTF8.self) }
  /// The name as a String.
  public var description: String { string }
}

/// The typed body of a request, one case per opcode the engine will serve.
public enum FuseRequestBody: Sendable, Equatable {
  /// LOOKUP: `name` in the header's directory.
  case lookup(name: FuseName)
  /// FORGET: drop lookups of the header's node (never answered).
  case forget(FuseForgetIn)
  /// GETATTR.
  case getattr(FuseGetattrIn)
  /// SETATTR.
  case setattr(FuseSetattrIn)
  /// READLINK.
  case readlink
  /// SYMLINK: a link `name` pointing at `target` (a path: may hold '/').
  case symlink(name: FuseName, target: [UInt8])
  /// MKNOD.
  case mknod(FuseMknodIn, name: FuseName)
  /// MKDIR.
  case mkdir(FuseMkdirIn, name: FuseName)
  /// UNLINK.
  case unlink(name: FuseName)
  /// RMDIR.
  case rmdir(name: FuseName)
  /// RENAME: `oldName` in the header's directory to `newName` in `newdir`.
  case rename(newdir: UInt64, oldName: FuseName, newName: FuseName)
  /// RENAME2: as RENAME, with flags.
  case rename2(FuseRename2In, oldName: FuseName, newName: FuseName)
  /// LINK: a new name in the header's directory for `oldnodeid`.
  case link(FuseLinkIn, newName: FuseName)
  /// OPEN.
  case open(FuseOpenIn)
  /// READ.
  case read(FuseReadIn)
  /// WRITE: exactly `size` bytes of data.
  case write(FuseWriteIn, data: FuseWireBytes)
  /// STATFS.
  case statfs
  /// RELEASE.
  case release(FuseReleaseIn)
  /// FSYNC.
  case fsync(FuseFsyncIn)
  /// SETXATTR: exactly `size` bytes of value after the name.
  case setxattr(FuseSetxattrIn, name: FuseName, value: FuseWireBytes)
  /// GETXATTR.
  case getxattr(FuseGetxattrIn, name: FuseName)
  /// LISTXATTR.
  case listxattr(FuseGetxattrIn)
  /// REMOVEXATTR.
  case removexattr(name: FuseName)
  /// FLUSH.
  case flush(FuseFlushIn)
  /// INIT.
  case fuseInit(FuseInitIn)
  /// OPENDIR.
  case opendir(FuseOpenIn)
  /// READDIR.
  case readdir(FuseReadIn)
  /// RELEASEDIR.
  case releasedir(FuseReleaseIn)
  /// FSYNCDIR.
  case fsyncdir(FuseFsyncIn)
  /// ACCESS.
  case access(FuseAccessIn)
  /// CREATE.
  case create(FuseCreateIn, name: FuseName)
  /// INTERRUPT (no reply needed).
  case interrupt(FuseInterruptIn)
  /// DESTROY.
  case destroy
  /// IOCTL: exactly `inSize` bytes of input.
  case ioctl(FuseIoctlIn, input: FuseWireBytes)
  /// POLL.
  case poll(FusePollIn)
  /// NOTIFY_REPLY: fuse_notify_retrieve_in and the data (never answered).
  case notifyReply(FuseWireBytes)
  /// BATCH_FORGET: the entries (never answered).
  case batchForget([FuseForgetOne])
  /// FALLOCATE.
  case fallocate(FuseFallocateIn)
  /// READDIRPLUS.
  case readdirplus(FuseReadIn)
  /// LSEEK.
  case lseek(FuseLseekIn)
  /// SYNCFS.
  case syncfs
  /// TMPFILE: an unnamed file in the header's directory (O_TMPFILE).
  case tmpfile(FuseCreateIn)
  /// STATX.
  case statx(FuseStatxIn)
  /// An opcode whose body is size-checked but not yet typed (GETLK, SETLK,
  /// SETLKW, BMAP, COPY_FILE_RANGE(_64), SETUPMAPPING, REMOVEMAPPING, CUSE_INIT).
  case unparsed(FuseKernelOpcode, FuseWireBytes)
}

/// One decoded request.
public struct FuseRequest: Sendable, Equatable {
  /// The header, as sent.
  public var header: FuseInHeader
  /// The opcode, known.
  public var opcode: FuseKernelOpcode
  /// The typed body.
  public var body: FuseRequestBody
  /// The extensions after the arguments (`total_extlen * 8` bytes: security
  /// context, supplementary groups), not yet parsed.
  public var extensions: FuseWireBytes
}

/// What was wrong with a request. Each maps to what the engine does about it
/// (`FuseDecodeFailure.disposition`).
public enum FuseDecodeError: Error, Sendable, Equatable {
  /// Fewer bytes than a fuse_in_header: no `unique` to answer; dropped.
  case shortHeader(have: Int)
  /// The header's `len` differs from the bytes read: EIO.
  case lengthMismatch(declared: UInt32, actual: Int)
  /// `total_extlen * 8` is more than the bytes after the header: EIO.
  case extensionsTooLong(extensionBytes: Int, payload: Int)
  /// An opcode this code does not know: ENOSYS (the kernel then stops asking, or falls back).
  case unknownOpcode(UInt32)
  /// The fixed in-argument is shorter than the opcode needs: EIO (go-fuse's "short read").
  case shortArgument(FuseKernelOpcode, need: Int, have: Int)
  /// A size field (write size, xattr value, ioctl input, forget count) disagrees with the bytes that follow: EIO.
  case sizeMismatch(FuseKernelOpcode, declared: Int, have: Int)
  /// Bytes after the last argument where the protocol puts none: EIO.
  case trailingBytes(FuseKernelOpcode, count: Int)
  /// A name without its NUL inside the message: EINVAL.
  case unterminatedName(FuseKernelOpcode)
  /// An empty name: EINVAL.
  case emptyName(FuseKernelOpcode)
  /// A '/' in a directory entry's name: EINVAL.
  case slashInName(FuseKernelOpcode)
  /// A name longer than 255 bytes (a link target longer than 4095): ENAMETOOLONG.
  case nameTooLong(FuseKernelOpcode, length: Int)

  /// The errno a reply carries for it.
  public var errno: Errno {
    switch self {
    case .unknownOpcode: return .ENOSYS
    case .unterminatedName, .emptyName, .slashInName: return .EINVAL
    case .nameTooLong: return .ENAMETOOLONG
    case .shortHeader, .lengthMismatch, .extensionsTooLong, .shortArgument, .sizeMismatch,
      .trailingBytes:
      return .EIO
    }
  }
}

/// What the engine does with a request that failed to decode.
public enum FuseDecodeDisposition: Sendable, Equatable {
  /// Answer request `unique` with this errno.
  case reply(unique: UInt64, errno: Errno)
  /// Send nothing: the protocol forbids a reply (FORGET, BATCH_FORGET,
  /// NOTIFY_REPLY, INTERRUPT), or there is no `unique` to answer.
  case drop
}

/// A decode error with the header it came with, when there was one.
public struct FuseDecodeFailure: Error, Sendable, Equatable {
  /// The header, when the message held one.
  public var header: FuseInHeader?
  /// What was wrong.
  public var error: FuseDecodeError

  /// Reply with the error's errno, or drop (see `FuseDecodeDisposition`).
  public var disposition: FuseDecodeDisposition {
    guard let header, header.unique != 0 else { return .drop }  // unique 0 is a notification's
    if let op = FuseKernelOpcode(rawValue: header.opcode), op.isReplyless { return .drop }
    return .reply(unique: header.unique, errno: error.errno)
  }
}
