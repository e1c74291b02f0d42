import Foundation
import XCTest

#if canImport(Glibc)
  import Glibc
#endif

/// One result a scenario recorded: what it saw on one mount, and what the man page says.
struct Observation {
  var label: String
  var value: String
  var expected: String?
  var file: StaticString
  var line: UInt
}

/// One mount in a side-by-side run. A scenario runs once per side; each `check`
/// records a value, and the test case then asserts that the two sides recorded
/// the same values and that tmpfs recorded what the man page states.
final class Side {
  /// "vfsmount", or the reference's name: "tmpfs" or "kernel ext2".
  let name: String
  /// The mount point.
  let mount: String
  /// The directory the scenario works in (`<mount>/t`, mode 0755), or the mount
  /// point itself for test cases whose `preparesMount` is false.
  let root: String
  private(set) var observations: [Observation] = []

  init(name: String, mount: String, workDir: Bool = true) {
    self.name = name
    self.mount = mount
    self.root = workDir ? mount + "/t" : mount
  }

  /// A path under `root` (absolute paths are left alone).
  func p(_ path: String) -> String {
    path.hasPrefix("/") ? path : path.isEmpty ? root : root + "/" + path
  }

  /// Records `value` under `label`; `expected` is what the man page says (nil: compare sides only).
  func check<T: CustomStringConvertible>(
    _ label: String, _ value: T, _ expected: T? = nil, file: StaticString = #filePath,
    line: UInt = #line
  ) {
    observations.append(
      Observation(
        label: label,
        value: value.description.replacingOccurrences(of: root, with: "$T")
          .replacingOccurrences(of: mount, with: "$M"),
        expected: expected?.description, file: file, line: line))
  }

  /// Records an optional value ("nil" when absent).
  @_disfavoredOverload
  func check<T: CustomStringConvertible>(
    _ label: String, _ value: T?, _ expected: T, file: StaticString = #filePath, line: UInt = #line
  ) {
    check(label, value.map(\.description) ?? "nil", expected.description, file: file, line: line)
  }

  // MARK: Calls that answer "OK" or an errno name

  /// open(2) then close: "OK" or the errno.
  func open(_ path: String, _ flags: Int32, _ mode: mode_t = 0o644) -> String {
    let fd = Glibc.open(p(path), flags, mode)
    if fd < 0 { return errnoName(errno) }
    close(fd)
    return "OK"
  }

  /// Opens and hands the descriptor to `body`, then closes it; -1 and errno if open failed.
  @discardableResult
  func withFD<R>(_ path: String, _ flags: Int32, _ mode: mode_t = 0o644, _ body: (Int32) -> R) -> R
  {
    let fd = Glibc.open(p(path), flags, mode)
    defer { if fd >= 0 { close(fd) } }
    return body(fd)
  }

  /// Creates or truncates `path` and writes `text`: "OK" or the errno.
  @discardableResult
  func put(
    _ path: String, _ text: String, flags: Int32 = O_WRONLY | O_CREAT | O_TRUNC,
    mode: mode_t = 0o644
  )
    -> String
  {
    let fd = Glibc.open(p(path), flags, mode)
    if fd < 0 { return errnoName(errno) }
    defer { close(fd) }
    return writeAll(fd, Array(text.utf8))
  }

  /// The whole content of `path` as text, or the errno name.
  func get(_ path: String) -> String {
    let fd = Glibc.open(p(path), O_RDONLY)
    if fd < 0 { return errnoName(errno) }
    defer { close(fd) }
    switch readAll(fd) {
    case .success(let bytes): return String(decoding: bytes, as: UTF8.self)
    case .failure(let e): return errnoName(e.code)
    }
  }

  /// The whole content of `path` as bytes (empty on error).
  func bytes(_ path: String) -> [UInt8] {
    let fd = Glibc.open(p(path), O_RDONLY)
    if fd < 0 { return [] }
    defer { close(fd) }
    return (try? readAll(fd).get()) ?? []
  }

  func mkdir(_ path: String, _ mode: mode_t = 0o755) -> String {
    result(Glibc.mkdir(p(path), mode))
  }
  func rmdir(_ path: String) -> String { result(Glibc.rmdir(p(path))) }
  func unlink(_ path: String) -> String { result(Glibc.unlink(p(path))) }
  func rename(_ from: String, _ to: String) -> String { result(Glibc.rename(p(from), p(to))) }
  func renameat2(_ from: String, _ to: String, _ flags: UInt32) -> String {
    result(Libc.renameat2(AT_FDCWD, p(from), AT_FDCWD, p(to), flags))
  }
  func link(_ from: String, _ to: String) -> String { result(Glibc.link(p(from), p(to))) }
  func symlink(_ target: String, _ path: String) -> String {
    result(Glibc.symlink(target, p(path)))
  }
  func chmod(_ path: String, _ mode: mode_t) -> String { result(Glibc.chmod(p(path), mode)) }
  func chown(_ path: String, _ uid: uid_t, _ gid: gid_t) -> String {
    result(Glibc.chown(p(path), uid, gid))
  }
  func lchown(_ path: String, _ uid: uid_t, _ gid: gid_t) -> String {
    result(Glibc.lchown(p(path), uid, gid))
  }
  func truncate(_ path: String, _ size: Int) -> String {
    result(Glibc.truncate(p(path), off_t(size)))
  }
  func mknod(_ path: String, _ mode: mode_t, _ dev: dev_t = 0) -> String {
    result(Glibc.mknod(p(path), mode, dev))
  }
  func access(_ path: String, _ mode: Int32) -> String { result(Glibc.access(p(path), mode)) }

  /// utimensat(2) with two timespecs (use Libc.UTIME_NOW / UTIME_OMIT as nsec).
  func utimens(_ path: String, _ atime: timespec, _ mtime: timespec, flags: Int32 = 0) -> String {
    var times = [atime, mtime]
    return result(utimensat(AT_FDCWD, p(path), &times, flags))
  }

  /// readlink(2): the target, or the errno name.
  func readlink(_ path: String) -> String {
    var buf = [CChar](repeating: 0, count: 4097)
    let n = Glibc.readlink(p(path), &buf, 4096)
    if n < 0 { return errnoName(errno) }
    return String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
  }

  // MARK: Attributes

  func stat(_ path: String) -> stat? { statPath(p(path)) }
  func lstat(_ path: String) -> stat? { lstatPath(p(path)) }
  func fstat(_ fd: Int32) -> stat? { fstatFD(fd) }
  /// "OK" if stat succeeds, else the errno.
  func statResult(_ path: String) -> String { statPath(p(path)) == nil ? errnoName(errno) : "OK" }
  /// The file type and permission bits, like "reg 644", or the errno.
  func mode(_ path: String) -> String {
    guard let st = lstatPath(p(path)) else { return errnoName(errno) }
    return "\(typeName(st.st_mode)) \(octal(st.perms))"
  }
  func nlink(_ path: String) -> Int { lstat(path).map { Int($0.st_nlink) } ?? -1 }
  func size(_ path: String) -> Int { lstat(path).map { Int($0.st_size) } ?? -1 }
  func blocks(_ path: String) -> Int { lstat(path).map { Int($0.st_blocks) } ?? -1 }
  func owner(_ path: String) -> String {
    lstat(path).map { "\($0.st_uid):\($0.st_gid)" } ?? errnoName(errno)
  }

  func statfs(_ path: String = "") -> statvfs? { statvfsPath(p(path)) }

  /// Sorted names in a directory (without . and ..), comma-separated, or the errno.
  func ls(_ path: String = "") -> String {
    guard let dir = opendir(p(path)) else { return errnoName(errno) }
    defer { closedir(dir) }
    var names: [String] = []
    while let entry = readdir(dir) {
      let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
        String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
      }
      if name != "." && name != ".." { names.append(name) }
    }
    return names.sorted().joined(separator: ",")
  }

  // MARK: Extended attributes

  func setxattr(_ path: String, _ name: String, _ value: String, _ flags: Int32 = 0) -> String {
    let bytes = Array(value.utf8)
    return result(
      bytes.withUnsafeBytes { Libc.setxattr(p(path), name, $0.baseAddress, $0.count, flags) })
  }
  /// The value, or the errno name.
  func getxattr(_ path: String, _ name: String) -> String {
    var buf = [UInt8](repeating: 0, count: 65536)
    let n = buf.withUnsafeMutableBytes { Libc.getxattr(p(path), name, $0.baseAddress, $0.count) }
    if n < 0 { return errnoName(errno) }
    return String(decoding: buf[0..<n], as: UTF8.self)
  }
  /// getxattr with a buffer of `size` bytes: the returned size, or the errno name.
  func getxattrSize(_ path: String, _ name: String, bufferSize: Int) -> String {
    var buf = [UInt8](repeating: 0, count: max(bufferSize, 1))
    let n = buf.withUnsafeMutableBytes {
      Libc.getxattr(p(path), name, bufferSize == 0 ? nil : $0.baseAddress, bufferSize)
    }
    return n < 0 ? errnoName(errno) : String(n)
  }
  /// Sorted names, comma-separated, or the errno name.
  func listxattr(_ path: String) -> String {
    var buf = [CChar](repeating: 0, count: 65536)
    let n = Libc.listxattr(p(path), &buf, buf.count)
    if n < 0 { return errnoName(errno) }
    return buf[0..<n].split(separator: 0).map {
      String(decoding: $0.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
    .sorted().joined(separator: ",")
  }
  /// listxattr with a buffer of `size` bytes: the returned size, or the errno name.
  func listxattrSize(_ path: String, bufferSize: Int) -> String {
    var buf = [CChar](repeating: 0, count: max(bufferSize, 1))
    let n = buf.withUnsafeMutableBufferPointer {
      Libc.listxattr(p(path), bufferSize == 0 ? nil : $0.baseAddress, bufferSize)
    }
    return n < 0 ? errnoName(errno) : String(n)
  }
  func removexattr(_ path: String, _ name: String) -> String {
    result(Libc.removexattr(p(path), name))
  }

  // MARK: Other programs

  /// Runs vfsprobe as another user: one output line per operation. An argument
  /// written `@name` is the path `p(name)`.
  func probe(uid: uid_t = 1000, gid: gid_t = 1000, groups: [gid_t]? = nil, _ ops: [String]...)
    -> [String]
  {
    var args = ["--uid", String(uid), "--gid", String(gid)]
    if let groups { args += ["--groups", groups.map(String.init).joined(separator: ",")] }
    for (i, op) in ops.enumerated() {
      if i > 0 { args.append(";") }
      args += op.map { $0.hasPrefix("@") ? p(String($0.dropFirst())) : $0 }
    }
    let r = runCommand(vfsprobePath(), args, timeout: 30)
    var lines = r.stdout.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
    if lines.last == "" { lines.removeLast() }
    if r.status != 0 { lines.append("exit \(r.status): \(r.stderr)") }
    return lines
  }

  /// Runs operations in one vfsprobe as another user and checks each output line
  /// against its expectation, labelled by the operation.
  func probeChecks(
    _ label: String, uid: uid_t = 1000, gid: gid_t = 1000, groups: [gid_t]? = nil,
    _ cases: [([String], String)],
    file: StaticString = #filePath, line: UInt = #line
  ) {
    var args = ["--uid", String(uid), "--gid", String(gid)]
    if let groups { args += ["--groups", groups.map(String.init).joined(separator: ",")] }
    for (i, c) in cases.enumerated() {
      if i > 0 { args.append(";") }
      args += c.0.map { $0.hasPrefix("@") ? p(String($0.dropFirst())) : $0 }
    }
    let r = runCommand(vfsprobePath(), args, timeout: 30)
    let lines = r.stdout.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
    check("\(label): vfsprobe exit status \(r.stderr)", r.status, 0, file: file, line: line)
    for (i, c) in cases.enumerated() {
      check(
        "\(label): \(c.0.joined(separator: " "))", i < lines.count ? lines[i] : "(no output)", c.1,
        file: file, line: line)
    }
  }

  /// Runs a /bin/sh script in `root`; stdout and stderr have the paths replaced by $T and $M.
  func sh(_ script: String, timeout: Double = 120) -> RunResult {
    var r = Glue.sh(
      script, cwd: root, environment: ["T": root, "M": mount, "LC_ALL": "C", "TZ": "UTC"],
      timeout: timeout)
    r.stdout = r.stdout.replacingOccurrences(of: root, with: "$T").replacingOccurrences(
      of: mount, with: "$M")
    r.stderr = r.stderr.replacingOccurrences(of: root, with: "$T").replacingOccurrences(
      of: mount, with: "$M")
    return r
  }
}

func statPath(_ path: String) -> stat? {
  var st = stat()
  return stat(path, &st) == 0 ? st : nil
}
func lstatPath(_ path: String) -> stat? {
  var st = stat()
  return lstat(path, &st) == 0 ? st : nil
}
func fstatFD(_ fd: Int32) -> stat? {
  var st = stat()
  return fstat(fd, &st) == 0 ? st : nil
}
func statvfsPath(_ path: String) -> statvfs? {
  var s = statvfs()
  return statvfs(path, &s) == 0 ? s : nil
}

/// Free functions whose names Side's methods shadow.
enum Glue {
  static func sh(_ script: String, cwd: String?, environment: [String: String]?, timeout: Double)
    -> RunResult
  {
    MountTests.sh(script, cwd: cwd, environment: environment, timeout: timeout)
  }
}

/// Writes everything: "OK" or the errno name.
func writeAll(_ fd: Int32, _ bytes: [UInt8]) -> String {
  var done = 0
  while done < bytes.count {
    let n = bytes[done...].withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
    if n < 0 { return errnoName(errno) }
    done += n
  }
  return "OK"
}

struct ErrnoError: Error { var code: Int32 }

/// Reads to end of file.
func readAll(_ fd: Int32) -> Result<[UInt8], ErrnoError> {
  var out = [UInt8]()
  var buf = [UInt8](repeating: 0, count: 65536)
  while true {
    let n = buf.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
    if n < 0 { return .failure(ErrnoError(code: errno)) }
    if n == 0 { return .success(out) }
    out += buf[0..<n]
  }
}

/// pread of `count` bytes at `offset`: the bytes, or nil with errno set.
func pread(_ fd: Int32, count: Int, at offset: Int) -> [UInt8]? {
  var buf = [UInt8](repeating: 0, count: count)
  let n = buf.withUnsafeMutableBytes { Glibc.pread(fd, $0.baseAddress, count, off_t(offset)) }
  return n < 0 ? nil : Array(buf[0..<n])
}

/// pwrite of all of `bytes` at `offset`: "OK" or the errno name.
func pwrite(_ fd: Int32, _ bytes: [UInt8], at offset: Int) -> String {
  let n = bytes.withUnsafeBytes { Glibc.pwrite(fd, $0.baseAddress, $0.count, off_t(offset)) }
  if n < 0 { return errnoName(errno) }
  return n == bytes.count ? "OK" : "short \(n)"
}

/// Side-by-side conformance tests: every scenario runs on the vfsmount mount and on
/// a tmpfs, then the two transcripts are compared and tmpfs's is checked against
/// the man page's expectations.
class ConformanceTestCase: MountTestCase {
  /// allow_other and default_permissions, plus the comma-separated options in env
  /// VFSMOUNT_EXTRA_OPTIONS (to rerun the suite with, say, entry_timeout=0,attr_timeout=0
  /// or writeback_cache).
  override class var mountOptions: [String] {
    let extra = ProcessInfo.processInfo.environment["VFSMOUNT_EXTRA_OPTIONS"] ?? ""
    return ["allow_other", "default_permissions"] + extra.split(separator: ",").map(String.init)
  }
  /// Whether setUp makes the mount root 0755 and creates the work dir `t` in it
  /// (false for read-only mounts and tests of the root's own mode and owner).
  class var preparesMount: Bool { true }
  /// Whether the reference's values are held to the man-page expectations: yes
  /// on tmpfs; on ext2 they are tmpfs's, so the kernel's ext2 is the oracle,
  /// unless a class writes its expectations for ext2.
  class var checksExpectations: Bool { !usesExt2 }

  var vfsSide: Side!
  var tmpfsSide: Side!

  override func setUpWithError() throws {
    try super.setUpWithError()
    vfsSide = Side(name: "vfsmount", mount: vfs.path, workDir: Self.preparesMount)
    tmpfsSide = Side(name: tmpfs.name, mount: tmpfs.path, workDir: Self.preparesMount)
    umask(0o022)
    for side in [vfsSide!, tmpfsSide!] where Self.preparesMount {
      Glibc.chmod(side.mount, 0o755)
      if Glibc.mkdir(side.root, 0o755) != 0 {
        throw SupportError("mkdir \(side.root): \(errnoName(errno))")
      }
      Glibc.chmod(side.root, 0o755)  // whatever the umask
    }
  }

  override func tearDownWithError() throws {
    vfsSide = nil
    tmpfsSide = nil
    try super.tearDownWithError()
  }

  /// Runs `body` on both mounts and compares what each recorded.
  func sideBySide(_ body: (Side) throws -> Void, file: StaticString = #filePath, line: UInt = #line)
  {
    let sides = [vfsSide!, tmpfsSide!]
    for side in sides {
      do { try body(side) } catch {
        side.check("scenario threw", "\(error)", file: file, line: line)
      }
    }
    let v = vfsSide.observations
    let t = tmpfsSide.observations
    XCTAssertEqual(
      v.map(\.label), t.map(\.label), "the scenario recorded different checks on the two mounts",
      file: file,
      line: line)
    for (a, b) in zip(v, t) {
      XCTAssertEqual(
        a.value, b.value,
        "\(a.label): vfsmount gave \(a.value.debugDescription), \(tmpfsSide.name) gave \(b.value.debugDescription)",
        file: a.file, line: a.line)
      if let expected = b.expected, Self.checksExpectations {
        XCTAssertEqual(
          b.value, expected,
          "\(b.label): \(tmpfsSide.name) gave \(b.value.debugDescription), expected \(expected.debugDescription) (vfsmount gave \(a.value.debugDescription))",
          file: b.file, line: b.line)
      }
    }
  }
}
