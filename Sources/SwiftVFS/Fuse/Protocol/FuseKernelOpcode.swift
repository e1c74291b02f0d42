// enum fuse_opcode of include/uapi/linux/fuse.h, with the kernel's numbers.
// FuseOpcode.kernelTable (the rows of /proc/vfs/requests) is derived from it,
// so the project keeps one list of opcode numbers.

/// A request's opcode as the kernel numbers it (`enum fuse_opcode`).
public enum FuseKernelOpcode: UInt32, CaseIterable, Sendable {
  /// FUSE_LOOKUP: a name in a directory (no reply-less forms).
  case lookup = 1
  /// FUSE_FORGET: drop lookups; never answered.
  case forget = 2
  /// FUSE_GETATTR.
  case getattr = 3
  /// FUSE_SETATTR.
  case setattr = 4
  /// FUSE_READLINK.
  case readlink = 5
  /// FUSE_SYMLINK: two strings, the new name and the target.
  case symlink = 6
  /// FUSE_MKNOD.
  case mknod = 8
  /// FUSE_MKDIR.
  case mkdir = 9
  /// FUSE_UNLINK.
  case unlink = 10
  /// FUSE_RMDIR.
  case rmdir = 11
  /// FUSE_RENAME (flagless; the kernel sends RENAME2 when the daemon has it).
  case rename = 12
  /// FUSE_LINK.
  case link = 13
  /// FUSE_OPEN.
  case open = 14
  /// FUSE_READ.
  case read = 15
  /// FUSE_WRITE.
  case write = 16
  /// FUSE_STATFS.
  case statfs = 17
  /// FUSE_RELEASE.
  case release = 18
  /// FUSE_FSYNC.
  case fsync = 20
  /// FUSE_SETXATTR.
  case setxattr = 21
  /// FUSE_GETXATTR.
  case getxattr = 22
  /// FUSE_LISTXATTR.
  case listxattr = 23
  /// FUSE_REMOVEXATTR.
  case removexattr = 24
  /// FUSE_FLUSH.
  case flush = 25
  /// FUSE_INIT: the first request, the negotiation.
  case fuseInit = 26
  /// FUSE_OPENDIR.
  case opendir = 27
  /// FUSE_READDIR.
  case readdir = 28
  /// FUSE_RELEASEDIR.
  case releasedir = 29
  /// FUSE_FSYNCDIR.
  case fsyncdir = 30
  /// FUSE_GETLK.
  case getlk = 31
  /// FUSE_SETLK.
  case setlk = 32
  /// FUSE_SETLKW.
  case setlkw = 33
  /// FUSE_ACCESS.
  case access = 34
  /// FUSE_CREATE.
  case create = 35
  /// FUSE_INTERRUPT: interrupt an earlier request; no reply needed.
  case interrupt = 36
  /// FUSE_BMAP (block devices only).
  case bmap = 37
  /// FUSE_DESTROY: the last request of a connection.
  case destroy = 38
  /// FUSE_IOCTL.
  case ioctl = 39
  /// FUSE_POLL.
  case poll = 40
  /// FUSE_NOTIFY_REPLY: data answering a NOTIFY_RETRIEVE; never answered.
  case notifyReply = 41
  /// FUSE_BATCH_FORGET: many forgets at once; never answered.
  case batchForget = 42
  /// FUSE_FALLOCATE.
  case fallocate = 43
  /// FUSE_READDIRPLUS.
  case readdirplus = 44
  /// FUSE_RENAME2 (rename with RENAME_NOREPLACE / RENAME_EXCHANGE / RENAME_WHITEOUT).
  case rename2 = 45
  /// FUSE_LSEEK.
  case lseek = 46
  /// FUSE_COPY_FILE_RANGE.
  case copyFileRange = 47
  /// FUSE_SETUPMAPPING (DAX).
  case setupMapping = 48
  /// FUSE_REMOVEMAPPING (DAX).
  case removeMapping = 49
  /// FUSE_SYNCFS (7.34).
  case syncfs = 50
  /// FUSE_TMPFILE (7.37): O_TMPFILE.
  case tmpfile = 51
  /// FUSE_STATX (7.39).
  case statx = 52
  /// FUSE_COPY_FILE_RANGE_64 (7.45): a copy longer than 4 GiB, with a 64-bit result.
  case copyFileRange64 = 53
  /// CUSE_INIT: a CUSE device's INIT (not built into this kernel).
  case cuseInit = 4096

  /// The kernel's name without the prefix, e.g. "LOOKUP", "BATCH_FORGET".
  public var name: String {
    switch self {
    case .fuseInit: return "INIT"
    case .notifyReply: return "NOTIFY_REPLY"
    case .batchForget: return "BATCH_FORGET"
    case .copyFileRange: return "COPY_FILE_RANGE"
    case .setupMapping: return "SETUPMAPPING"
    case .removeMapping: return "REMOVEMAPPING"
    case .copyFileRange64: return "COPY_FILE_RANGE_64"
    case .cuseInit: return "CUSE_INIT"
    default: return String(describing: self).uppercased()
    }
  }

  /// Whether the protocol forbids a reply: FORGET, BATCH_FORGET and
  /// NOTIFY_REPLY are never answered, and an INTERRUPT needs none (the
  /// interrupted request's own reply ends it), so a bad one is dropped.
  public var isReplyless: Bool {
    switch self {
    case .forget, .batchForget, .notifyReply, .interrupt: return true
    default: return false
    }
  }
}

extension FuseKernelOpcode {
  /// Every opcode by its number, for the decoder.
  private static let byNumber: [UInt32: FuseKernelOpcode] = Dictionary(
    uniqueKeysWithValues: allCases.map { ($0.rawValue, $0) })

  /// The opcode numbered `rawValue`, or nil for a number this code does not
  /// know (the decoder answers ENOSYS to it).
  public init?(rawValue: UInt32) {
    guard let op = Self.byNumber[rawValue] else { return nil }
    self = op
  }
}
