import Foundation

#if canImport(Glibc)
  import Glibc
#endif

// Calls and constants that Swift's Glibc module leaves out (they sit behind
// _GNU_SOURCE or in headers it does not include): looked up in libc by name,
// with values from the Linux UAPI headers.

/// A libc function looked up by name.
func libcFunction<F>(_ name: String, as _: F.Type) -> F {
  guard let handle = dlopen(nil, RTLD_NOW), let sym = dlsym(handle, name) else {
    fatalError("libc has no \(name)")
  }
  return unsafeBitCast(sym, to: F.self)
}

enum Libc {
  static let setxattr = libcFunction(
    "setxattr",
    as: (@convention(c) (UnsafePointer<CChar>, UnsafePointer<CChar>, UnsafeRawPointer?, Int, Int32)
      -> Int32).self)
  static let lsetxattr = libcFunction(
    "lsetxattr",
    as: (@convention(c) (UnsafePointer<CChar>, UnsafePointer<CChar>, UnsafeRawPointer?, Int, Int32)
      -> Int32).self)
  static let getxattr = libcFunction(
    "getxattr",
    as: (@convention(c) (UnsafePointer<CChar>, UnsafePointer<CChar>, UnsafeMutableRawPointer?, Int)
      -> Int).self)
  static let lgetxattr = libcFunction(
    "lgetxattr",
    as: (@convention(c) (UnsafePointer<CChar>, UnsafePointer<CChar>, UnsafeMutableRawPointer?, Int)
      -> Int).self)
  static let fgetxattr = libcFunction(
    "fgetxattr",
    as: (@convention(c) (Int32, UnsafePointer<CChar>, UnsafeMutableRawPointer?, Int) -> Int).self)
  static let fsetxattr = libcFunction(
    "fsetxattr",
    as: (@convention(c) (Int32, UnsafePointer<CChar>, UnsafeRawPointer?, Int, Int32) -> Int32).self)
  static let listxattr = libcFunction(
    "listxattr",
    as: (@convention(c) (UnsafePointer<CChar>, UnsafeMutablePointer<CChar>?, Int) -> Int).self)
  static let removexattr = libcFunction(
    "removexattr", as: (@convention(c) (UnsafePointer<CChar>, UnsafePointer<CChar>) -> Int32).self)
  static let renameat2 = libcFunction(
    "renameat2",
    as: (@convention(c) (Int32, UnsafePointer<CChar>, Int32, UnsafePointer<CChar>, UInt32) -> Int32)
      .self)
  static let fallocate = libcFunction(
    "fallocate", as: (@convention(c) (Int32, Int32, Int, Int) -> Int32).self)

  private static let statfsCall = libcFunction(
    "statfs", as: (@convention(c) (UnsafePointer<CChar>, UnsafeMutableRawPointer) -> Int32).self)
  /// statfs(2)'s f_type (the first field of struct statfs on Linux), or -1.
  static func fsType(_ path: String) -> Int {
    let buf = UnsafeMutableRawPointer.allocate(byteCount: 256, alignment: 16)
    defer { buf.deallocate() }
    return statfsCall(path, buf) == 0 ? buf.load(as: Int.self) : -1
  }

  static let XATTR_CREATE: Int32 = 1
  static let XATTR_REPLACE: Int32 = 2
  static let RENAME_NOREPLACE: UInt32 = 1
  static let RENAME_EXCHANGE: UInt32 = 2
  static let FALLOC_FL_KEEP_SIZE: Int32 = 1
  static let FALLOC_FL_PUNCH_HOLE: Int32 = 2
  static let SEEK_DATA: Int32 = 3
  static let SEEK_HOLE: Int32 = 4
  static let UTIME_NOW = (1 << 30) - 1
  static let UTIME_OMIT = (1 << 30) - 2
  static let AT_SYMLINK_NOFOLLOW: Int32 = 0x100
  static let AT_REMOVEDIR: Int32 = 0x200
  static let TMPFS_MAGIC: Int = 0x0102_1994
}

/// glibc's makedev/major/minor: the user-space dev_t encoding.
func makeDev(_ major: UInt32, _ minor: UInt32) -> dev_t {
  let ma = UInt64(major)
  let mi = UInt64(minor)
  return dev_t((ma & 0xfff) << 8 | (ma & ~0xfff) << 32 | (mi & 0xff) | (mi & ~0xff) << 12)
}
func devMajor(_ dev: dev_t) -> UInt32 {
  UInt32((UInt64(dev) >> 8) & 0xfff | (UInt64(dev) >> 32) & ~0xfff)
}
func devMinor(_ dev: dev_t) -> UInt32 { UInt32(UInt64(dev) & 0xff | (UInt64(dev) >> 12) & ~0xff) }

let errnoNames: [Int32: String] = [
  EPERM: "EPERM", ENOENT: "ENOENT", ESRCH: "ESRCH", EINTR: "EINTR", EIO: "EIO", ENXIO: "ENXIO",
  E2BIG: "E2BIG", ENOEXEC: "ENOEXEC", EBADF: "EBADF", ECHILD: "ECHILD", EAGAIN: "EAGAIN",
  ENOMEM: "ENOMEM", EACCES: "EACCES", EFAULT: "EFAULT", ENOTBLK: "ENOTBLK", EBUSY: "EBUSY",
  EEXIST: "EEXIST", EXDEV: "EXDEV", ENODEV: "ENODEV", ENOTDIR: "ENOTDIR", EISDIR: "EISDIR",
  EINVAL: "EINVAL", ENFILE: "ENFILE", EMFILE: "EMFILE", ENOTTY: "ENOTTY", ETXTBSY: "ETXTBSY",
  EFBIG: "EFBIG", ENOSPC: "ENOSPC", ESPIPE: "ESPIPE", EROFS: "EROFS", EMLINK: "EMLINK",
  EPIPE: "EPIPE", EDOM: "EDOM", ERANGE: "ERANGE", EDEADLK: "EDEADLK",
  ENAMETOOLONG: "ENAMETOOLONG", ENOLCK: "ENOLCK", ENOSYS: "ENOSYS", ENOTEMPTY: "ENOTEMPTY",
  ELOOP: "ELOOP", ENODATA: "ENODATA", EOVERFLOW: "EOVERFLOW", ENOTSUP: "EOPNOTSUPP",
  ENOTCONN: "ENOTCONN", ECONNABORTED: "ECONNABORTED", ETIMEDOUT: "ETIMEDOUT", ESTALE: "ESTALE",
  EDQUOT: "EDQUOT",
]

/// The C name of an errno value.
func errnoName(_ e: Int32) -> String { errnoNames[e] ?? "E\(e)" }

/// "OK" for a zero (or non-negative) return, else the C name of errno.
func result(_ rc: Int32) -> String { rc >= 0 ? "OK" : errnoName(errno) }
func result(_ rc: Int) -> String { rc >= 0 ? "OK" : errnoName(errno) }

/// A timestamp with nanoseconds, comparable.
struct Time: Comparable, CustomStringConvertible {
  var sec: Int
  var nsec: Int
  init(_ ts: timespec) {
    sec = ts.tv_sec
    nsec = ts.tv_nsec
  }
  init(sec: Int, nsec: Int) {
    self.sec = sec
    self.nsec = nsec
  }
  static func < (a: Time, b: Time) -> Bool { (a.sec, a.nsec) < (b.sec, b.nsec) }
  var description: String { "\(sec).\(String(format: "%09d", nsec))" }
  static var now: Time {
    var ts = timespec()
    clock_gettime(CLOCK_REALTIME, &ts)
    return Time(ts)
  }
}

extension stat {
  var type: mode_t { st_mode & S_IFMT }
  var perms: mode_t { st_mode & 0o7777 }
  var atime: Time { Time(st_atim) }
  var mtime: Time { Time(st_mtim) }
  var ctime: Time { Time(st_ctim) }
}

/// A mode as octal text.
func octal(_ mode: mode_t) -> String { String(mode, radix: 8) }

/// The name of a file type.
func typeName(_ mode: mode_t) -> String {
  switch mode & S_IFMT {
  case S_IFREG: return "reg"
  case S_IFDIR: return "dir"
  case S_IFLNK: return "lnk"
  case S_IFIFO: return "fifo"
  case S_IFSOCK: return "sock"
  case S_IFCHR: return "chr"
  case S_IFBLK: return "blk"
  default: return "?\(octal(mode & S_IFMT))"
  }
}
