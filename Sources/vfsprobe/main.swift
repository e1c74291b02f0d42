// vfsprobe: runs file operations as another user and prints one line per operation.
//
//   vfsprobe [--uid N] [--gid N] [--groups a,b] OP ARGS... [';' OP ARGS...]
//
// Privileges are dropped first (setgroups, setresgid, setresuid, in that order;
// --uid or --gid without --groups clears the supplementary groups). Then each
// operation runs and prints `OK`, optionally followed by a value, or the C name of
// the errno it failed with (`EACCES`). Values: `read` and `readlink` print the bytes
// (newline as \n, backslash as \\), `getxattr` the value, `list` and `listxattr`
// sorted comma-separated names, `stat` and `lstat` `mode=<octal> uid= gid= size= nlink=`.
// A usage error prints to stderr and exits 2; otherwise the exit status is 0.
//
// Operations:
//   open PATH FLAGS [MODE]       FLAGS: comma list of rdonly wronly rdwr creat excl trunc
//                                append directory nofollow noatime; MODE octal (default 644)
//   create PATH [MODE]           open(O_CREAT|O_WRONLY|O_TRUNC)
//   read PATH                    the whole file
//   write PATH TEXT              open(O_WRONLY) and write TEXT at offset 0
//   append PATH TEXT             open(O_WRONLY|O_APPEND) and write TEXT
//   mkdir PATH MODE | rmdir PATH | unlink PATH | rename OLD NEW | link OLD NEW
//   rename2 OLD NEW FLAGS        renameat2(2); FLAGS a number (1 noreplace, 2 exchange, 4 whiteout)
//   symlink TARGET PATH | readlink PATH | chmod PATH MODE | chown PATH UID GID (-1 keeps)
//   truncate PATH SIZE | utimens PATH ATIME [MTIME]  (each: now, omit or SEC[.NSEC])
//   setxattr PATH NAME VALUE [create|replace] | getxattr PATH NAME | listxattr PATH
//   removexattr PATH NAME | list DIR | stat PATH | lstat PATH | access PATH r,w,x|f
//   mknod PATH TYPE MODE [MAJ MIN]  TYPE: fifo|p, sock|s, chr|c, blk|b, reg|f
//   id                           prints `OK uid=N gid=N groups=a,b`

#if canImport(Glibc)
  import Glibc
#elseif canImport(Musl)
  import Musl
#endif

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
  ENOTCONN: "ENOTCONN", ETIMEDOUT: "ETIMEDOUT", ESTALE: "ESTALE", EDQUOT: "EDQUOT",
  ECONNREFUSED: "ECONNREFUSED",
]

func errnoName(_ e: Int32) -> String { errnoNames[e] ?? "E\(e)" }

func usage(_ message: String) -> Never {
  var text = "vfsprobe: \(message)\n"
  text += "usage: vfsprobe [--uid N] [--gid N] [--groups a,b] OP ARGS... [';' OP ARGS...]\n"
  _ = text.withCString { write(2, $0, strlen($0)) }
  exit(2)
}

struct UsageError: Error { var message: String }

/// Bytes as one printable line: newline as \n, backslash as \\, other control bytes as \xNN.
func escaped(_ bytes: [UInt8]) -> String {
  var s = ""
  for b in bytes {
    switch b {
    case UInt8(ascii: "\n"): s += "\\n"
    case UInt8(ascii: "\\"): s += "\\\\"
    case 0x20..<0x7f: s.unicodeScalars.append(Unicode.Scalar(b))
    default:
      let hex = String(b, radix: 16)
      s += "\\x" + (hex.count == 1 ? "0" + hex : hex)
    }
  }
  return s
}

func octal(_ s: String) throws -> mode_t {
  guard let v = mode_t(s, radix: 8) else { throw UsageError(message: "bad octal mode \(s)") }
  return v
}

func number<T: FixedWidthInteger>(_ s: String, _: T.Type = T.self) throws -> T {
  guard let v = T(s) else { throw UsageError(message: "bad number \(s)") }
  return v
}

func openFlags(_ s: String) throws -> Int32 {
  var flags: Int32 = 0
  for word in s.lowercased().split(separator: ",") {
    switch word {
    case "rdonly": flags |= O_RDONLY
    case "wronly": flags |= O_WRONLY
    case "rdwr": flags |= O_RDWR
    case "creat", "create": flags |= O_CREAT
    case "excl": flags |= O_EXCL
    case "trunc": flags |= O_TRUNC
    case "append": flags |= O_APPEND
    case "directory": flags |= O_DIRECTORY
    case "nofollow": flags |= O_NOFOLLOW
    case "noatime": flags |= 0o1_000_000  // O_NOATIME
    case "path": flags |= 0o10_000_000  // O_PATH
    default: throw UsageError(message: "unknown open flag \(word)")
    }
  }
  return flags
}

/// `now`, `omit` or SEC[.NSEC].
func timespecArg(_ s: String) throws -> timespec {
  switch s {
  case "now": return timespec(tv_sec: 0, tv_nsec: Int((1 << 30) - 1))  // UTIME_NOW
  case "omit": return timespec(tv_sec: 0, tv_nsec: Int((1 << 30) - 2))  // UTIME_OMIT
  default:
    let parts = s.split(separator: ".", omittingEmptySubsequences: false)
    guard parts.count <= 2, let sec = Int(parts[0]) else {
      throw UsageError(message: "bad time \(s)")
    }
    var nsec = 0
    if parts.count == 2 {
      let digits = String(parts[1])
      guard digits.count <= 9, let n = Int(digits) else {
        throw UsageError(message: "bad time \(s)")
      }
      nsec = n * Int(pow10(9 - digits.count))
    }
    return timespec(tv_sec: sec, tv_nsec: nsec)
  }
}

/// glibc's makedev(): the user-space dev_t encoding.
func makeDev(_ major: UInt32, _ minor: UInt32) -> dev_t {
  let ma = UInt64(major)
  let mi = UInt64(minor)
  return dev_t((ma & 0xfff) << 8 | (ma & ~0xfff) << 32 | (mi & 0xff) | (mi & ~0xff) << 12)
}

func pow10(_ n: Int) -> Int { (0..<n).reduce(1) { r, _ in r * 10 } }

/// Runs `body`; nil on success, else the errno name.
func check(_ rc: Int32) -> String { rc == 0 ? "OK" : errnoName(errno) }
func check(_ rc: Int) -> String { rc >= 0 ? "OK" : errnoName(errno) }

func readAll(_ fd: Int32) -> ([UInt8], Int32?) {
  var out = [UInt8]()
  var buf = [UInt8](repeating: 0, count: 65536)
  while true {
    let n = buf.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
    if n < 0 { return (out, errno) }
    if n == 0 { return (out, nil) }
    out += buf[0..<n]
  }
}

func writeAll(_ fd: Int32, _ text: String) -> Int32? {
  let bytes = Array(text.utf8)
  var done = 0
  while done < bytes.count {
    let n = bytes[done...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
    if n < 0 { return errno }
    done += n
  }
  return nil
}

func openAndClose(_ path: String, _ flags: Int32, _ mode: mode_t, _ body: (Int32) -> String)
  -> String
{
  let fd = open(path, flags, mode)
  if fd < 0 { return errnoName(errno) }
  let result = body(fd)
  if close(fd) != 0 && result == "OK" { return errnoName(errno) }
  return result
}

func statLine(_ st: stat) -> String {
  "OK mode=\(String(st.st_mode, radix: 8)) uid=\(st.st_uid) gid=\(st.st_gid) size=\(st.st_size) nlink=\(st.st_nlink)"
}

func names(_ list: [String]) -> String {
  list.isEmpty ? "OK" : "OK " + list.sorted().joined(separator: ",")
}

/// One operation; its output line.
func perform(_ op: String, _ a: [String]) throws -> String {
  func need(_ n: Int, _ max: Int? = nil) throws {
    guard a.count >= n, a.count <= (max ?? n) else {
      throw UsageError(
        message: "\(op) takes \(n)\(max.map { $0 == n ? "" : "-\($0)" } ?? "") arguments")
    }
  }
  switch op {
  case "open":
    try need(2, 3)
    let flags = try openFlags(a[1])
    let mode = a.count > 2 ? try octal(a[2]) : 0o644
    return openAndClose(a[0], flags, mode) { _ in "OK" }
  case "create":
    try need(1, 2)
    let mode = a.count > 1 ? try octal(a[1]) : 0o644
    return openAndClose(a[0], O_CREAT | O_WRONLY | O_TRUNC, mode) { _ in "OK" }
  case "read":
    try need(1)
    return openAndClose(a[0], O_RDONLY, 0) { fd in
      let (bytes, err) = readAll(fd)
      if let err { return errnoName(err) }
      return bytes.isEmpty ? "OK" : "OK " + escaped(bytes)
    }
  case "write", "append":
    try need(2)
    return openAndClose(a[0], op == "write" ? O_WRONLY : O_WRONLY | O_APPEND, 0) { fd in
      writeAll(fd, a[1]).map(errnoName) ?? "OK"
    }
  case "mkdir":
    try need(2)
    return check(mkdir(a[0], try octal(a[1])))
  case "rmdir":
    try need(1)
    return check(rmdir(a[0]))
  case "unlink":
    try need(1)
    return check(unlink(a[0]))
  case "rename":
    try need(2)
    return check(rename(a[0], a[1]))
  case "rename2":  // renameat2(2), not in Swift's Glibc: found by name
    try need(3)
    typealias Renameat2 =
      @convention(c) (
        Int32, UnsafePointer<CChar>, Int32, UnsafePointer<CChar>, UInt32
      ) -> Int32
    guard let sym = dlsym(dlopen(nil, RTLD_NOW), "renameat2") else { return "ENOSYS" }
    return check(
      unsafeBitCast(sym, to: Renameat2.self)(AT_FDCWD, a[0], AT_FDCWD, a[1], try number(a[2])))
  case "link":
    try need(2)
    return check(link(a[0], a[1]))
  case "symlink":
    try need(2)
    return check(symlink(a[0], a[1]))
  case "readlink":
    try need(1)
    var buf = [UInt8](repeating: 0, count: 4097)
    let n = buf.withUnsafeMutableBytes {
      readlink(a[0], $0.baseAddress!.assumingMemoryBound(to: CChar.self), 4096)
    }
    return n < 0 ? errnoName(errno) : "OK " + escaped(Array(buf[0..<n]))
  case "chmod":
    try need(2)
    return check(chmod(a[0], try octal(a[1])))
  case "chown":
    try need(3)
    let uid = a[1] == "-1" ? uid_t.max : try number(a[1], uid_t.self)
    let gid = a[2] == "-1" ? gid_t.max : try number(a[2], gid_t.self)
    return check(chown(a[0], uid, gid))
  case "truncate":
    try need(2)
    return check(truncate(a[0], try number(a[1], off_t.self)))
  case "utimens":
    try need(2, 3)
    var times = [try timespecArg(a[1]), try timespecArg(a.count > 2 ? a[2] : a[1])]
    return check(utimensat(AT_FDCWD, a[0], &times, 0))
  case "setxattr":
    try need(3, 4)
    var flags: Int32 = 0
    if a.count > 3 {
      switch a[3] {
      case "create": flags = 1  // XATTR_CREATE
      case "replace": flags = 2  // XATTR_REPLACE
      default: throw UsageError(message: "setxattr flag must be create or replace")
      }
    }
    let value = Array(a[2].utf8)
    return check(value.withUnsafeBytes { setxattr(a[0], a[1], $0.baseAddress, $0.count, flags) })
  case "getxattr":
    try need(2)
    let size = getxattr(a[0], a[1], nil, 0)
    if size < 0 { return errnoName(errno) }
    var buf = [UInt8](repeating: 0, count: size + 1)
    let n = buf.withUnsafeMutableBytes { getxattr(a[0], a[1], $0.baseAddress, $0.count) }
    if n < 0 { return errnoName(errno) }
    return n == 0 ? "OK" : "OK " + escaped(Array(buf[0..<n]))
  case "listxattr":
    try need(1)
    let size = listxattr(a[0], nil, 0)
    if size < 0 { return errnoName(errno) }
    var buf = [UInt8](repeating: 0, count: size + 1)
    let n = buf.withUnsafeMutableBytes {
      listxattr(a[0], $0.baseAddress!.assumingMemoryBound(to: CChar.self), $0.count)
    }
    if n < 0 { return errnoName(errno) }
    return names(buf[0..<n].split(separator: 0).map { String(decoding: $0, as: UTF8.self) })
  case "removexattr":
    try need(2)
    return check(removexattr(a[0], a[1]))
  case "list":
    try need(1)
    guard let dir = opendir(a[0]) else { return errnoName(errno) }
    defer { closedir(dir) }
    var entries: [String] = []
    errno = 0
    while let entry = readdir(dir) {
      let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
        String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
      }
      if name != "." && name != ".." { entries.append(name) }
      errno = 0
    }
    if errno != 0 { return errnoName(errno) }
    return names(entries)
  case "stat", "lstat":
    try need(1)
    var st = stat()
    let rc = op == "stat" ? stat(a[0], &st) : lstat(a[0], &st)
    return rc == 0 ? statLine(st) : errnoName(errno)
  case "access":
    try need(2)
    var mode: Int32 = 0
    for word in a[1].split(separator: ",") {
      switch word {
      case "r": mode |= R_OK
      case "w": mode |= W_OK
      case "x": mode |= X_OK
      case "f": mode |= F_OK
      default: throw UsageError(message: "access mode must be r,w,x or f")
      }
    }
    return check(access(a[0], mode))
  case "mknod":
    try need(3, 5)
    let type: mode_t
    switch a[1] {
    case "fifo", "p": type = S_IFIFO
    case "sock", "s": type = S_IFSOCK
    case "chr", "c": type = S_IFCHR
    case "blk", "b": type = S_IFBLK
    case "reg", "f": type = S_IFREG
    default: throw UsageError(message: "mknod type must be fifo, sock, chr, blk or reg")
    }
    var dev: dev_t = 0
    if a.count == 5 {
      dev = makeDev(try number(a[3], UInt32.self), try number(a[4], UInt32.self))
    } else if a.count != 3 {
      throw UsageError(message: "mknod takes MAJ and MIN together")
    }
    return check(mknod(a[0], type | (try octal(a[2])), dev))
  case "id":
    try need(0)
    let n = getgroups(0, nil)
    var groups = [gid_t](repeating: 0, count: Int(max(n, 0)))
    let got = getgroups(n, &groups)
    let list = groups.prefix(Int(max(got, 0))).map(String.init).joined(separator: ",")
    return "OK uid=\(geteuid()) gid=\(getegid()) groups=\(list)"
  default:
    throw UsageError(message: "unknown operation \(op)")
  }
}

/// A libc function that Swift's Glibc module does not declare (it is behind
/// _GNU_SOURCE or in a header the module leaves out), looked up by name.
func libc<F>(_ name: String, as: F.Type) -> F {
  guard let handle = dlopen(nil, RTLD_NOW), let sym = dlsym(handle, name) else {
    fatalError("libc has no \(name)")
  }
  return unsafeBitCast(sym, to: F.self)
}

let setxattr = libc(
  "setxattr",
  as: (@convention(c) (UnsafePointer<CChar>, UnsafePointer<CChar>, UnsafeRawPointer?, Int, Int32) ->
    Int32).self)
let getxattr = libc(
  "getxattr",
  as: (@convention(c) (UnsafePointer<CChar>, UnsafePointer<CChar>, UnsafeMutableRawPointer?, Int) ->
    Int).self)
let listxattr = libc(
  "listxattr",
  as: (@convention(c) (UnsafePointer<CChar>, UnsafeMutablePointer<CChar>?, Int) -> Int).self)
let removexattr = libc(
  "removexattr", as: (@convention(c) (UnsafePointer<CChar>, UnsafePointer<CChar>) -> Int32).self)

/// setresuid(2) / setresgid(2) with all three ids equal. Glibc declares them only
/// under _GNU_SOURCE, which Swift's Glibc module does not set: look them up.
func setres(_ name: String, _ id: UInt32) -> Int32 {
  libc(name, as: (@convention(c) (UInt32, UInt32, UInt32) -> Int32).self)(id, id, id)
}

// MARK: - Main

var args = Array(CommandLine.arguments.dropFirst())
var uid: uid_t?
var gid: gid_t?
var groups: [gid_t]?

while let first = args.first, first.hasPrefix("--") {
  args.removeFirst()
  if first == "--help" {
    print("usage: vfsprobe [--uid N] [--gid N] [--groups a,b] OP ARGS... [';' OP ARGS...]")
    exit(0)
  }
  guard let value = args.first else { usage("\(first) needs a value") }
  args.removeFirst()
  switch first {
  case "--uid":
    guard let v = uid_t(value) else { usage("bad uid \(value)") }
    uid = v
  case "--gid":
    guard let v = gid_t(value) else { usage("bad gid \(value)") }
    gid = v
  case "--groups":
    var list: [gid_t] = []
    for part in value.split(separator: ",") {
      guard let v = gid_t(part) else { usage("bad group \(part)") }
      list.append(v)
    }
    groups = list
  default:
    usage("unknown option \(first)")
  }
}

// Split into operations at ';' arguments.
var operations: [[String]] = [[]]
for arg in args {
  if arg == ";" { operations.append([]) } else { operations[operations.count - 1].append(arg) }
}
operations.removeAll { $0.isEmpty }
if operations.isEmpty { usage("no operation") }

// Drop privileges: supplementary groups, then gid, then uid (after which we could not).
if groups != nil || uid != nil || gid != nil {
  let list = groups ?? []
  if setgroups(list.count, list) != 0 { usage("setgroups: \(errnoName(errno))") }
}
if let gid, setres("setresgid", gid) != 0 { usage("setresgid: \(errnoName(errno))") }
if let uid, setres("setresuid", uid) != 0 { usage("setresuid: \(errnoName(errno))") }

for op in operations {
  do {
    print(try perform(op[0], Array(op.dropFirst())))
  } catch let error as UsageError {
    usage(error.message)
  }
}
