import SwiftVFSCore

/// The FUSE opcodes, with the VFS operation each dispatches to: the request
/// table /proc/vfs/requests shows, the analog of the syscall table.
/// `vfsOperation` is nil for an opcode the bridge leaves to libfuse's default
/// answer (ENOSYS, after which the kernel handles it itself or stops asking).
public enum FuseOpcode: String, CaseIterable, Sendable {
  /// Namespace and attribute requests, FUSE_LOOKUP to FUSE_RENAME.
  case lookup, forget, getattr, setattr, readlink, symlink, mknod, mkdir, unlink, rmdir, rename
  /// FUSE_LINK to FUSE_LISTXATTR: links, open files, statfs and xattrs.
  case link, open, read, write, statfs, release, fsync, setxattr, getxattr, listxattr
  /// FUSE_REMOVEXATTR to FUSE_ACCESS: close, directories, POSIX locks.
  case removexattr, flush, opendir, readdir, releasedir, fsyncdir, getlk, setlk, access
  /// FUSE_CREATE to FUSE_READDIRPLUS.
  case create, interrupt, bmap, ioctl, poll, batchForget, fallocate, readdirplus
  /// FUSE_COPY_FILE_RANGE, FUSE_LSEEK, and flock(2) (a lock request libfuse
  /// tells apart, not an opcode of its own).
  case copyFileRange, lseek, flock
  /// FUSE_SYNCFS, FUSE_TMPFILE and FUSE_STATX (7.34 to 7.39), which only the
  /// native engine receives: libfuse 3.14 answers them ENOSYS itself.
  case syncfs, tmpfile, statx

  /// The kernel's name, e.g. "LOOKUP", "BATCH_FORGET".
  public var name: String {
    switch self {
    case .batchForget: return "BATCH_FORGET"
    case .copyFileRange: return "COPY_FILE_RANGE"
    default: return rawValue.uppercased()
    }
  }

  /// Whether only the native engine serves it (libfuse 3.14 answers ENOSYS):
  /// declared served in the request table only when that engine runs.
  public var isNativeOnly: Bool { self == .syncfs || self == .tmpfile || self == .statx }

  /// The VFS operation that serves it, e.g. "inode_operations.lookup"; nil: libfuse's default.
  public var vfsOperation: String? {
    switch self {
    case .lookup: return "inode_operations.lookup"
    case .forget, .batchForget: return "iput"
    case .getattr: return "inode_operations.getattr"
    case .setattr: return "inode_operations.setattr"
    case .readlink: return "inode_operations.get_link"
    case .symlink: return "inode_operations.symlink"
    case .mknod: return "inode_operations.mknod"
    case .mkdir: return "inode_operations.mkdir"
    case .unlink: return "inode_operations.unlink"
    case .rmdir: return "inode_operations.rmdir"
    case .rename: return "inode_operations.rename"
    case .link: return "inode_operations.link"
    case .open, .opendir: return "file_operations.open"
    case .create: return "inode_operations.create"
    case .read: return "file_operations.read"
    case .write: return "file_operations.write"
    case .statfs: return "super_operations.statfs"
    case .release, .releasedir: return "file_operations.release"
    case .fsync, .fsyncdir: return "file_operations.fsync"
    case .flush: return "file_operations.flush"
    case .setxattr, .getxattr, .listxattr, .removexattr: return "xattr_handler.\(rawValue)"
    case .readdir, .readdirplus: return "file_operations.iterate_shared"
    case .ioctl: return "file_operations.unlocked_ioctl"
    case .poll: return "file_operations.poll"
    case .fallocate: return "file_operations.fallocate"
    case .lseek: return "file_operations.llseek"
    case .syncfs: return "super_operations.sync_fs"
    case .tmpfile: return "inode_operations.tmpfile"
    case .statx: return "inode_operations.getattr"
    case .getlk, .setlk, .flock, .access, .interrupt, .bmap, .copyFileRange: return nil
    }
  }
}

extension FuseOpcode {
  /// The kernel's opcodes, in number order (include/uapi/linux/fuse.h): the
  /// rows of /proc/vfs/requests, which the bridge declares to the core's
  /// request table (the core knows no FUSE opcode itself).
  public static let kernelTable: [(code: Int, name: String)] =
    FuseKernelOpcode.allCases
    .filter { $0.rawValue <= FuseKernelOpcode.statx.rawValue }  // the rows served today
    .map { (Int($0.rawValue), $0.name) }
}
