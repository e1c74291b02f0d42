import SwiftVFS

#if canImport(Glibc)
  import Glibc
#endif

/// A file system that shows a host directory: each operation is the same
/// system call on the host path underneath (`root` + the path asked for),
/// like libfuse's example/passthrough.c on the high-level API.
///
/// What it does not do: hard links, device nodes, FIFOs and xattrs (the
/// path layer answers EPERM and EOPNOTSUPP); names that are not UTF-8 are
/// shown decoded with replacement characters. Having no file handle, each
/// read or write opens the host file again, so a file removed while open
/// reads ENOENT, unlike on the host.
struct Passthrough: PathFileSystem {
  /// The host directory shown, an absolute path.
  let root: String

  /// renameat2(2), for RENAME_NOREPLACE and RENAME_EXCHANGE: glibc declares
  /// it only under _GNU_SOURCE, which Swift's Glibc module does not define.
  static let renameat2 = unsafeBitCast(
    dlsym(UnsafeMutableRawPointer(bitPattern: 0), "renameat2"),  // RTLD_DEFAULT
    to: (@convention(c) (Int32, UnsafePointer<CChar>, Int32, UnsafePointer<CChar>, UInt32) -> Int32)
      .self)

  /// The host path of `path` ("/" is the root itself).
  func host(_ path: String) -> String { path == "/" ? root : root + path }

  /// Throws the call's errno when it failed (returned -1).
  @discardableResult
  func check<Result: BinaryInteger>(_ result: Result) throws(Errno) -> Result {
    guard result >= 0 else { throw Errno(errno) }
    return result
  }

  /// Runs `body` on a host descriptor of `path` opened with `flags` (and
  /// `mode`, for O_CREAT), then closes it.
  func withDescriptor(
    _ path: String, _ flags: Int32, mode: mode_t = 0, _ body: (Int32) -> Int
  ) throws(Errno) -> Int {
    let fd = try check(Glibc.open(host(path), flags, mode))
    defer { close(fd) }
    return try check(body(fd))
  }

  func getattr(_ path: String) throws(Errno) -> PathAttributes {
    var st = stat()
    try check(lstat(host(path), &st))
    guard let type = FileType(mode: st.st_mode) else { throw .EIO }
    func time(_ t: timespec) -> Timestamp {
      Timestamp(sec: Int64(t.tv_sec), nsec: Int32(t.tv_nsec))
    }
    return PathAttributes(
      type: type, permissions: st.st_mode & ModeBits.permissions, size: Int64(st.st_size),
      nlink: UInt32(st.st_nlink), uid: st.st_uid, gid: st.st_gid,
      rdev: (try? DevT(userEncoding: UInt64(st.st_rdev))) ?? .zero,
      atime: time(st.st_atim), mtime: time(st.st_mtim), ctime: time(st.st_ctim))
  }

  func readdir(_ path: String) throws(Errno) -> [PathDirectoryEntry] {
    guard let dir = opendir(host(path)) else { throw Errno(errno) }
    defer { closedir(dir) }
    var entries: [PathDirectoryEntry] = []
    while let entry = Glibc.readdir(dir) {
      let name = withUnsafeBytes(of: entry.pointee.d_name) {
        String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self)
      }
      guard name != ".", name != ".." else { continue }
      // d_type is DT_UNKNOWN on some file systems: ask lstat then.
      let child = path == "/" ? "/" + name : path + "/" + name
      guard
        let type = FileType(mode: UInt32(entry.pointee.d_type) << 12) ?? (try? getattr(child).type)
      else { continue }
      entries.append(PathDirectoryEntry(name, type: type))
    }
    return entries
  }

  /// Opens the host file as asked (without creating or truncating: the
  /// kernel did that already), so that its permissions and errors show.
  func open(_ path: String, flags: Int32) throws(Errno) {
    _ = try withDescriptor(path, flags & ~(O_CREAT | O_EXCL | O_TRUNC)) { _ in 0 }
  }

  func read(_ path: String, into buffer: UnsafeMutableRawBufferPointer, at offset: Int64)
    throws(Errno) -> Int
  {
    try withDescriptor(path, O_RDONLY) { pread($0, buffer.baseAddress, buffer.count, Int(offset)) }
  }

  func write(_ path: String, from buffer: UnsafeRawBufferPointer, at offset: Int64)
    throws(Errno) -> Int
  {
    try withDescriptor(path, O_WRONLY) { pwrite($0, buffer.baseAddress, buffer.count, Int(offset)) }
  }

  func fsync(_ path: String) throws(Errno) {
    _ = try withDescriptor(path, O_RDONLY) { Int(Glibc.fsync($0)) }
  }

  /// The new file belongs to the caller when we may make it so (as root).
  /// Its mode is the one asked for: the kernel applied the caller's umask,
  /// and main set ours to 0.
  func create(_ path: String, mode: UInt32, cred: Cred) throws(Errno) {
    _ = try withDescriptor(path, O_CREAT | O_EXCL | O_WRONLY, mode: mode) { fd in
      _ = fchown(fd, cred.uid, cred.gid)
      return 0
    }
  }

  func mkdir(_ path: String, mode: UInt32, cred: Cred) throws(Errno) {
    try check(Glibc.mkdir(host(path), mode))
    _ = lchown(host(path), cred.uid, cred.gid)
  }

  func unlink(_ path: String) throws(Errno) { try check(Glibc.unlink(host(path))) }

  func rmdir(_ path: String) throws(Errno) { try check(Glibc.rmdir(host(path))) }

  func rename(_ from: String, _ to: String, flags: RenameFlags) throws(Errno) {
    if flags.isEmpty {
      try check(Glibc.rename(host(from), host(to)))
    } else {
      try check(Passthrough.renameat2(AT_FDCWD, host(from), AT_FDCWD, host(to), flags.rawValue))
    }
  }

  func symlink(_ path: String, target: String, cred: Cred) throws(Errno) {
    try check(Glibc.symlink(target, host(path)))
    _ = lchown(host(path), cred.uid, cred.gid)
  }

  func readlink(_ path: String) throws(Errno) -> String {
    var buffer = [UInt8](repeating: 0, count: Int(PATH_MAX))
    let n = try check(Glibc.readlink(host(path), &buffer, buffer.count))
    return String(decoding: buffer[..<n], as: UTF8.self)
  }

  func truncate(_ path: String, size: Int64) throws(Errno) {
    try check(Glibc.truncate(host(path), Int(size)))
  }

  func chmod(_ path: String, mode: UInt32) throws(Errno) {
    try check(Glibc.chmod(host(path), mode))
  }

  func chown(_ path: String, uid: UInt32?, gid: UInt32?) throws(Errno) {
    try check(lchown(host(path), uid ?? UInt32.max, gid ?? UInt32.max))  // -1: unchanged
  }

  func utimens(_ path: String, atime: SetAttr.TimeChange?, mtime: SetAttr.TimeChange?)
    throws(Errno)
  {
    func spec(_ change: SetAttr.TimeChange?) -> timespec {
      switch change {
      case nil: return timespec(tv_sec: 0, tv_nsec: (1 << 30) - 2)  // UTIME_OMIT
      case .now: return timespec(tv_sec: 0, tv_nsec: (1 << 30) - 1)  // UTIME_NOW
      case .to(let t): return timespec(tv_sec: Int(t.sec), tv_nsec: Int(t.nsec))
      }
    }
    let times = [spec(atime), spec(mtime)]
    try check(utimensat(AT_FDCWD, host(path), times, AT_SYMLINK_NOFOLLOW))
  }
}
