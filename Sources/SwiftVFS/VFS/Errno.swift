#if canImport(Glibc)
  import Glibc
#endif

/// An error number as the kernel returns it, positive (EIO is 5).
///
/// Every VFS operation throws `Errno`; the FUSE bridge turns it into a reply in
/// one place (`fuse_reply_err`). Zero is not an error, so it cannot be made.
public struct Errno: Error, Hashable, Sendable, CustomStringConvertible {
  public let rawValue: Int32

  public init(_ rawValue: Int32) {
    precondition(rawValue > 0, "Errno must be positive")
    self.rawValue = rawValue
  }

  public var description: String {
    Errno.names[rawValue] ?? "errno \(rawValue)"
  }

  /// The C name of an errno, as `errno(1)` prints it.
  public var name: String { description }

  public static let EPERM = Errno(Glibc.EPERM)
  public static let ENOENT = Errno(Glibc.ENOENT)
  public static let EIO = Errno(Glibc.EIO)
  public static let ENXIO = Errno(Glibc.ENXIO)
  public static let E2BIG = Errno(Glibc.E2BIG)
  public static let EBADF = Errno(Glibc.EBADF)
  public static let EAGAIN = Errno(Glibc.EAGAIN)
  public static let ENOMEM = Errno(Glibc.ENOMEM)
  public static let EACCES = Errno(Glibc.EACCES)
  public static let EFAULT = Errno(Glibc.EFAULT)
  public static let EBUSY = Errno(Glibc.EBUSY)
  public static let EEXIST = Errno(Glibc.EEXIST)
  public static let EXDEV = Errno(Glibc.EXDEV)
  public static let ENODEV = Errno(Glibc.ENODEV)
  public static let ENOTDIR = Errno(Glibc.ENOTDIR)
  public static let EISDIR = Errno(Glibc.EISDIR)
  public static let EINVAL = Errno(Glibc.EINVAL)
  public static let ENFILE = Errno(Glibc.ENFILE)
  public static let ENOTTY = Errno(Glibc.ENOTTY)
  public static let EFBIG = Errno(Glibc.EFBIG)
  public static let ENOSPC = Errno(Glibc.ENOSPC)
  public static let ESPIPE = Errno(Glibc.ESPIPE)
  public static let EROFS = Errno(Glibc.EROFS)
  public static let EMLINK = Errno(Glibc.EMLINK)
  public static let ERANGE = Errno(Glibc.ERANGE)
  public static let ENAMETOOLONG = Errno(Glibc.ENAMETOOLONG)
  public static let ENOSYS = Errno(Glibc.ENOSYS)
  public static let ENOTEMPTY = Errno(Glibc.ENOTEMPTY)
  public static let ELOOP = Errno(Glibc.ELOOP)
  public static let ENODATA = Errno(Glibc.ENODATA)
  public static let EOVERFLOW = Errno(Glibc.EOVERFLOW)
  public static let EOPNOTSUPP = Errno(Glibc.EOPNOTSUPP)
  public static let EINTR = Errno(Glibc.EINTR)

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
  ]
}
