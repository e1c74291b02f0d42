#if canImport(Glibc)
  import Glibc
#endif

/// An error number as the kernel returns it, positive (EIO is 5).
///
/// Every VFS operation throws `Errno`; the FUSE bridge turns it into a reply in
/// one place (`fuse_reply_err`). Zero is not an error, so it cannot be made.
public struct Errno: Error, Hashable, Sendable, CustomStringConvertible {
  /// The positive error number (EIO is 5).
  public let rawValue: Int32

  /// Wraps a positive error number; zero or less stops the program (not an error).
  public init(_ rawValue: Int32) {
    precondition(rawValue > 0, "Errno must be positive")
    self.rawValue = rawValue
  }

  /// The C name, e.g. "ENOENT" ("errno N" for a number without one).
  public var description: String {
    Errno.names[rawValue] ?? "errno \(rawValue)"
  }

  /// The C name of an errno, as `errno(1)` prints it.
  public var name: String { description }

  /// Operation not permitted (EPERM).
  public static let EPERM = Errno(Glibc.EPERM)
  /// No such file or directory (ENOENT).
  public static let ENOENT = Errno(Glibc.ENOENT)
  /// Input/output error (EIO).
  public static let EIO = Errno(Glibc.EIO)
  /// No such device or address (ENXIO): a device number no driver serves.
  public static let ENXIO = Errno(Glibc.ENXIO)
  /// Argument list too long (E2BIG): an xattr value past XATTR_SIZE_MAX.
  public static let E2BIG = Errno(Glibc.E2BIG)
  /// Bad file descriptor (EBADF): an unknown handle, or the wrong access mode.
  public static let EBADF = Errno(Glibc.EBADF)
  /// Resource temporarily unavailable (EAGAIN): would block.
  public static let EAGAIN = Errno(Glibc.EAGAIN)
  /// Cannot allocate memory (ENOMEM).
  public static let ENOMEM = Errno(Glibc.ENOMEM)
  /// Permission denied (EACCES): the mode bits or an ACL refuse.
  public static let EACCES = Errno(Glibc.EACCES)
  /// Bad address (EFAULT).
  public static let EFAULT = Errno(Glibc.EFAULT)
  /// Device or resource busy (EBUSY): a mount point, a registered name.
  public static let EBUSY = Errno(Glibc.EBUSY)
  /// File exists (EEXIST).
  public static let EEXIST = Errno(Glibc.EEXIST)
  /// Invalid cross-device link (EXDEV): link or rename across superblocks.
  public static let EXDEV = Errno(Glibc.EXDEV)
  /// No such device (ENODEV): an unknown file system type.
  public static let ENODEV = Errno(Glibc.ENODEV)
  /// Not a directory (ENOTDIR).
  public static let ENOTDIR = Errno(Glibc.ENOTDIR)
  /// Is a directory (EISDIR).
  public static let EISDIR = Errno(Glibc.EISDIR)
  /// Invalid argument (EINVAL).
  public static let EINVAL = Errno(Glibc.EINVAL)
  /// Too many open files in system (ENFILE).
  public static let ENFILE = Errno(Glibc.ENFILE)
  /// Inappropriate ioctl for device (ENOTTY): an unknown ioctl command.
  public static let ENOTTY = Errno(Glibc.ENOTTY)
  /// File too large (EFBIG): past the superblock's maximum file size.
  public static let EFBIG = Errno(Glibc.EFBIG)
  /// No space left on device (ENOSPC).
  public static let ENOSPC = Errno(Glibc.ENOSPC)
  /// Illegal seek (ESPIPE): the file has no position.
  public static let ESPIPE = Errno(Glibc.ESPIPE)
  /// Read-only file system (EROFS).
  public static let EROFS = Errno(Glibc.EROFS)
  /// Too many links (EMLINK).
  public static let EMLINK = Errno(Glibc.EMLINK)
  /// Numerical result out of range (ERANGE): a buffer too small, a bad xattr name.
  public static let ERANGE = Errno(Glibc.ERANGE)
  /// File name too long (ENAMETOOLONG): past NAME_MAX (255 bytes).
  public static let ENAMETOOLONG = Errno(Glibc.ENAMETOOLONG)
  /// Function not implemented (ENOSYS): the kernel may stop asking for that op.
  public static let ENOSYS = Errno(Glibc.ENOSYS)
  /// Directory not empty (ENOTEMPTY).
  public static let ENOTEMPTY = Errno(Glibc.ENOTEMPTY)
  /// Too many levels of symbolic links (ELOOP).
  public static let ELOOP = Errno(Glibc.ELOOP)
  /// No data available (ENODATA): no such extended attribute.
  public static let ENODATA = Errno(Glibc.ENODATA)
  /// Value too large for defined data type (EOVERFLOW).
  public static let EOVERFLOW = Errno(Glibc.EOVERFLOW)
  /// Operation not supported (EOPNOTSUPP).
  public static let EOPNOTSUPP = Errno(Glibc.EOPNOTSUPP)
  /// Interrupted system call (EINTR): a sleep ended by FUSE_INTERRUPT or teardown.
  public static let EINTR = Errno(Glibc.EINTR)
  /// Structure needs cleaning (EUCLEAN): a disk file system found its
  /// metadata damaged (the kernel's EFSCORRUPTED, "EXT2-fs error").
  public static let EUCLEAN = Errno(Glibc.EUCLEAN)
  /// Stale file handle (ESTALE): the inode a handle or an entry names is gone.
  public static let ESTALE = Errno(Glibc.ESTALE)

  static let names: [Int32: String] = [
    Glibc.EPERM: "EPERM", Glibc.ENOENT: "ENOENT", Glibc.EIO: "EIO", Glibc.ENXIO: "ENXIO",
    Glibc.E2BIG: "E2BIG", Glibc.EBADF: "EBADF", Glibc.EAGAIN: "EAGAIN", Glibc.ENOMEM: "ENOMEM",
    Glibc.EACCES: "EACCES", Glibc.EFAULT: "EFAULT", Glibc.EBUSY: "EBUSY", Glibc.EEXIST: "EEXIST",
    Glibc.EXDEV: "EXDEV", Glibc.ENODEV: "ENODEV", Glibc.ENOTDIR: "ENOTDIR",
    Glibc.EISDIR: "EISDIR", Glibc.EINVAL: "EINVAL", Glibc.ENFILE: "ENFILE",
    Glibc.ENOTTY: "ENOTTY", Glibc.EFBIG: "EFBIG", Glibc.ENOSPC: "ENOSPC",
    Glibc.ESPIPE: "ESPIPE", Glibc.EROFS: "EROFS", Glibc.EMLINK: "EMLINK",
    Glibc.ERANGE: "ERANGE", Glibc.ENAMETOOLONG: "ENAMETOOLONG", Glibc.ENOSYS: "ENOSYS",
    Glibc.ENOTEMPTY: "ENOTEMPTY", Glibc.ELOOP: "ELOOP", Glibc.ENODATA: "ENODATA",
    Glibc.EOVERFLOW: "EOVERFLOW", Glibc.EOPNOTSUPP: "EOPNOTSUPP", Glibc.EINTR: "EINTR",
    Glibc.EUCLEAN: "EUCLEAN", Glibc.ESTALE: "ESTALE",
  ]
}
