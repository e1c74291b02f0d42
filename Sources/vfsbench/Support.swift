#if canImport(Glibc)
  import Glibc
#endif

/// A benchmark failure: one line for stderr, then cleanup and exit 1.
struct BenchFailure: Error, CustomStringConvertible {
  let description: String
  init(_ message: String) { description = message }
}

/// The errno of the last failed call, as text.
func errnoText() -> String { String(cString: strerror(errno)) }

/// CLOCK_MONOTONIC in nanoseconds.
@inline(__always)
func nowNanos() -> UInt64 {
  var ts = timespec()
  clock_gettime(CLOCK_MONOTONIC, &ts)
  return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
}

/// A stopwatch that can leave out the parts of a run spent checking data
/// (`pause`/`resume`), so verification costs nothing in the figure.
struct Stopwatch {
  private var started: UInt64 = 0
  private var excluded: UInt64 = 0
  private var pausedAt: UInt64 = 0

  mutating func start() {
    excluded = 0
    started = nowNanos()
  }
  mutating func pause() { pausedAt = nowNanos() }
  mutating func resume() { excluded &+= nowNanos() &- pausedAt }
  func elapsed() -> UInt64 { nowNanos() &- started &- excluded }
}

func medianOf(_ values: [Double]) -> Double {
  guard !values.isEmpty else { return .nan }
  let s = values.sorted()
  let m = s.count / 2
  return s.count % 2 == 1 ? s[m] : (s[m - 1] + s[m]) / 2
}

/// O_DIRECT, which Swift's Glibc module leaves out (it needs _GNU_SOURCE).
#if arch(x86_64)
  let oDirect: Int32 = 0o40000
#else
  let oDirect: Int32 = 0o200000
#endif

/// Writes `text` to a file (procfs and sysfs controls); false on failure.
@discardableResult
func writeFile(_ path: String, _ text: String) -> Bool {
  let fd = open(path, O_WRONLY | O_CLOEXEC)
  guard fd >= 0 else { return false }
  defer { close(fd) }
  return text.withCString { write(fd, $0, strlen($0)) } == text.utf8.count
}

/// A whole (small) file as text; nil if it can't be read.
func readFile(_ path: String, limit: Int = 1 << 20) -> String? {
  let fd = open(path, O_RDONLY | O_CLOEXEC)
  guard fd >= 0 else { return nil }
  defer { close(fd) }
  var bytes: [UInt8] = []
  var chunk = [UInt8](repeating: 0, count: 65536)
  while bytes.count < limit {
    let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
    if n <= 0 { break }
    bytes.append(contentsOf: chunk[0..<n])
  }
  return String(decoding: bytes, as: UTF8.self)
}

/// `echo 3 > /proc/sys/vm/drop_caches`, after a sync: the kernel drops its
/// page cache, dentries and inodes (for FUSE: forgets, and later lookups).
func dropCaches() throws {
  sync()
  guard writeFile("/proc/sys/vm/drop_caches", "3\n") else {
    throw BenchFailure("cannot write /proc/sys/vm/drop_caches: \(errnoText()) (run as root)")
  }
}

/// Fields of /proc/PID/status in bytes (VmRSS, VmHWM ...).
func procStatusBytes(_ pid: Int32, _ field: String) -> UInt64? {
  guard let text = readFile("/proc/\(pid)/status") else { return nil }
  for line in text.split(separator: "\n") where line.hasPrefix(field + ":") {
    let parts = line.split(separator: " ", omittingEmptySubsequences: true)
    if parts.count >= 2, let kb = UInt64(parts[1].filter { $0.isNumber }) { return kb * 1024 }
  }
  return nil
}

/// Resets a process's peak RSS (VmHWM) to its current RSS (Linux >= 4.0).
func resetPeakRSS(_ pid: Int32) -> Bool { writeFile("/proc/\(pid)/clear_refs", "5\n") }

/// Names for many files without making Swift strings in the timed loops: one
/// buffer, fixed stride, NUL-terminated ("f0000042").
final class NameTable {
  let count: Int
  private let stride = 16
  private let storage: UnsafeMutablePointer<CChar>

  init(count: Int, prefix: String = "f") {
    self.count = count
    storage = .allocate(capacity: max(count, 1) * stride)
    for i in 0..<count {
      let digits = String(i)
      let name = prefix + String(repeating: "0", count: max(0, 7 - digits.count)) + digits
      name.withCString { _ = strncpy(storage + i * stride, $0, stride - 1) }
      storage[i * stride + stride - 1] = 0
    }
  }

  deinit { storage.deallocate() }

  @inline(__always)
  subscript(i: Int) -> UnsafePointer<CChar> { UnsafePointer(storage + i * stride) }
}

/// SplitMix64: a seeded generator, so both file systems see the same order.
struct SplitMix64: RandomNumberGenerator {
  var state: UInt64
  init(seed: UInt64) { state = seed }
  mutating func next() -> UInt64 {
    state &+= 0x9E37_79B9_7F4A_7C15
    var z = state
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }
}

/// Test data: every 8-byte word holds a function of its file offset and a
/// seed, so data read back from the wrong place, the wrong file or a stale
/// page is caught.
enum Pattern {
  @inline(__always)
  static func word(_ offset: UInt64, _ seed: UInt64) -> UInt64 {
    (offset &* 0x9E37_79B9_7F4A_7C15) ^ seed ^ 0x5A5A_0000_0000_A5A5
  }

  /// Fills `count` bytes (a multiple of 8) at `buffer` for file offset `offset`.
  static func fill(_ buffer: UnsafeMutableRawPointer, count: Int, offset: UInt64, seed: UInt64) {
    let words = buffer.bindMemory(to: UInt64.self, capacity: count / 8)
    for i in 0..<(count / 8) { words[i] = word(offset &+ UInt64(i * 8), seed) }
  }

  /// Whether `count` bytes at `buffer` are what `fill` would write there.
  static func check(_ buffer: UnsafeRawPointer, count: Int, offset: UInt64, seed: UInt64) -> Bool {
    let words = buffer.bindMemory(to: UInt64.self, capacity: count / 8)
    for i in 0..<(count / 8) where words[i] != word(offset &+ UInt64(i * 8), seed) {
      return false
    }
    return true
  }
}

/// A page-aligned buffer (O_DIRECT needs one).
final class AlignedBuffer {
  let count: Int
  let pointer: UnsafeMutableRawPointer

  init(count: Int) {
    self.count = count
    var p: UnsafeMutableRawPointer?
    precondition(posix_memalign(&p, 4096, max(count, 4096)) == 0, "out of memory")
    pointer = p!
    memset(pointer, 0, count)
  }

  deinit { free(pointer) }
}

/// Reads exactly `count` bytes at `offset` (short reads retried); returns the bytes read.
func preadFully(_ fd: Int32, _ buffer: UnsafeMutableRawPointer, _ count: Int, _ offset: Int64)
  -> Int
{
  var done = 0
  while done < count {
    let n = pread(fd, buffer + done, count - done, off_t(offset + Int64(done)))
    if n < 0, errno == EINTR { continue }
    if n <= 0 { break }
    done += n
  }
  return done
}

/// Writes exactly `count` bytes at `offset`; returns the bytes written.
func pwriteFully(_ fd: Int32, _ buffer: UnsafeRawPointer, _ count: Int, _ offset: Int64) -> Int {
  var done = 0
  while done < count {
    let n = pwrite(fd, buffer + done, count - done, off_t(offset + Int64(done)))
    if n < 0, errno == EINTR { continue }
    if n <= 0 { break }
    done += n
  }
  return done
}

extension Double {
  /// "12.3", "0.456", "1234": three significant digits, no exponent.
  var short: String {
    guard isFinite else { return "-" }
    let a = Swift.abs(self)
    let decimals = a >= 100 ? 0 : a >= 10 ? 1 : a >= 1 ? 2 : a >= 0.1 ? 3 : 4
    return fixed(decimals)
  }

  func fixed(_ decimals: Int) -> String {
    guard isFinite else { return "-" }
    var scale = 1.0
    for _ in 0..<decimals { scale *= 10 }
    let r = (self * scale).rounded() / scale
    var s = String(r)
    if s.hasSuffix(".0"), decimals == 0 { s.removeLast(2) }
    if let dot = s.firstIndex(of: ".") {
      let have = s.distance(from: dot, to: s.endIndex) - 1
      if have < decimals { s += String(repeating: "0", count: decimals - have) }
    } else if decimals > 0 {
      s += "." + String(repeating: "0", count: decimals)
    }
    return s
  }
}

/// "850 ns", "12.3 us", "4.56 ms", "1.23 s".
func formatNanos(_ ns: Double) -> String {
  guard ns.isFinite else { return "-" }
  if ns < 1_000 { return ns.short + " ns" }
  if ns < 1_000_000 { return (ns / 1e3).short + " us" }
  if ns < 1_000_000_000 { return (ns / 1e6).short + " ms" }
  return (ns / 1e9).short + " s"
}

func formatBytes(_ b: Double) -> String {
  guard b.isFinite else { return "-" }
  let a = Swift.abs(b)
  if a < 1024 { return b.short + " B" }
  if a < 1_048_576 { return (b / 1024).short + " KiB" }
  if a < 1_073_741_824 { return (b / 1_048_576).short + " MiB" }
  return (b / 1_073_741_824).short + " GiB"
}
