#if canImport(Glibc)
  import Glibc
#endif

/// FUSE requests by opcode over one timed section: calls and the time the
/// daemon spent in them (mean x calls), from `/proc/vfs/requests`.
struct RequestCounts {
  var calls: [String: Int] = [:]
  var nanos: [String: Double] = [:]

  /// Parses the request table: `op opcode operation... calls errors mean_us
  /// p99_us`, fields counted from the right (the operation may hold spaces);
  /// rows that do not parse are left out.
  static func parse(_ text: String) -> RequestCounts {
    var out = RequestCounts()
    for line in text.split(separator: "\n") where !line.hasPrefix("#") {
      let f = line.split(separator: " ")
      guard f.count >= 6, let calls = Int(f[f.count - 4]), calls > 0 else { continue }
      let opcode = String(f[1])
      out.calls[opcode, default: 0] += calls
      out.nanos[opcode, default: 0] += (Double(f[f.count - 2]) ?? 0) * 1000 * Double(calls)
    }
    return out
  }

  /// `self - other`, per opcode, never below zero: a later snapshot less an
  /// earlier one, or a section's counts less the probe's own requests.
  func minus(_ other: RequestCounts) -> RequestCounts {
    var out = RequestCounts()
    for (op, n) in calls {
      let left = n - (other.calls[op] ?? 0)
      guard left > 0 else { continue }
      out.calls[op] = left
      out.nanos[op] = max(0, (nanos[op] ?? 0) - (other.nanos[op] ?? 0))
    }
    return out
  }

  mutating func add(_ other: RequestCounts) {
    for (op, n) in other.calls { calls[op, default: 0] += n }
    for (op, t) in other.nanos { nanos[op, default: 0] += t }
  }
}

/// Counts the round trips of a timed section on a vfsmount: zeroes the
/// request table (`/proc/vfs/reset`) before and reads it after. On a
/// read-only mount, where the reset cannot be written, it reads the table
/// before and after and takes the difference (the mean times are then
/// rounder: the table prints 0.1 us). Reading and resetting are requests
/// too (open, write, read, flush, release of the proc files): measured once
/// on the idle mount and taken off every count.
final class RequestProbe {
  let directory: String
  private var overhead = RequestCounts()
  private var armed = false
  /// The table at `begin()` when it cannot be reset.
  private var before: RequestCounts?
  private let canReset: Bool

  /// nil when the mount has no /proc/vfs/requests (a `bare` mount).
  init?(mount: String) {
    directory = mount + "/proc/vfs"
    guard access(directory + "/requests", R_OK) == 0 else { return nil }
    canReset = writeFile(directory + "/reset", "1\n")
    // Twice: the first pass also pays the lookups the kernel then caches.
    // The pause lets the daemon record the reset's own WRITE and the
    // asynchronous RELEASE, which a timed section always outlasts.
    for _ in 0..<2 {
      begin()
      usleep(50_000)
      guard let idle = end(subtractOverhead: false) else { return nil }
      overhead = idle
    }
  }

  /// Marks the start of a timed section.
  func begin() {
    if canReset {
      armed = writeFile(directory + "/reset", "1\n")
    } else {
      before = read()
      armed = before != nil
    }
  }

  /// The requests since `begin()`, less the probe's own; nil if not armed.
  func end() -> RequestCounts? { end(subtractOverhead: true) }

  private func end(subtractOverhead: Bool) -> RequestCounts? {
    guard armed else { return nil }
    armed = false
    guard var counts = read() else { return nil }
    if let before { counts = counts.minus(before) }
    before = nil
    return subtractOverhead ? counts.minus(overhead) : counts
  }

  private func read() -> RequestCounts? {
    readFile(directory + "/requests", limit: 1 << 20).map(RequestCounts.parse)
  }
}

/// One row's requests on one target, over all repetitions: per operation
/// is `counts / ops`.
struct RequestTally {
  var counts = RequestCounts()
  /// Operations timed, summed over the repetitions (files, I/Os...).
  var ops = 0

  /// Opcodes by calls, most first: (opcode, per operation, mean latency ns).
  var perOperation: [(opcode: String, perOp: Double, meanNanos: Double)] {
    guard ops > 0 else { return [] }
    return counts.calls.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }
      .map { op, n in
        (op, Double(n) / Double(ops), (counts.nanos[op] ?? 0) / Double(n))
      }
  }
}
