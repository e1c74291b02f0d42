/// One row of the table: the same operation timed on every target, keyed by
/// the target's name. `samples` are nanoseconds per repetition; `ops` and
/// `bytes` are what one repetition did (for the rate); `target` is issue 5's
/// ratio target as the workload recorded it (the suite may use another).
struct Row {
  var key: String
  var group: String
  var title: String
  var ops: Int
  var bytes: Int
  var target: Double?
  var samples: [String: [Double]] = [:]
  /// false: some repetition read back wrong data. nil: nothing to check.
  var verified: [String: Bool] = [:]
  /// Why a side has no figure (e.g. tmpfs without O_DIRECT).
  var skipped: [String: String] = [:]
  /// Rows whose figure is a rate measured by fio (IOPS), not a time.
  var isIOPS = false

  func median(_ kind: String) -> Double? {
    guard let s = samples[kind], !s.isEmpty else { return nil }
    return medianOf(s)
  }

  /// Requests by opcode per target (vfsmount targets only).
  var requests: [String: RequestTally] = [:]

  /// `name`'s time / `reference`'s time (lower is better).
  func ratio(_ name: String, to reference: String) -> Double? {
    guard let v = median(name), let t = median(reference), t > 0 else { return nil }
    return v / t
  }

  var wrongData: Bool { verified.values.contains(false) }

  /// ops/s, or MiB/s for rows that move data; IOPS rows are already rates.
  func rate(_ kind: String) -> String {
    guard let m = median(kind), m > 0 else { return skipped[kind] == nil ? "-" : "n/a" }
    if isIOPS { return (1e9 / m).short + " IOPS" }
    if bytes > 0 { return (Double(bytes) / 1_048_576 / (m / 1e9)).short + " MiB/s" }
    return (Double(ops) / (m / 1e9)).short + " op/s"
  }
}

/// Everything one run found: rows in the order first recorded, memory
/// figures, facts, and failures.
final class Results {
  private(set) var rows: [Row] = []
  private var index: [String: Int] = [:]
  var memory: [(name: String, value: Double, unit: String, note: String)] = []
  var failures: [String] = []
  var notes: [String] = []

  func row(_ key: String) -> Row? { index[key].map { rows[$0] } }

  func record(
    _ kind: String, group: String, key: String, title: String, nanos: Double,
    ops: Int, bytes: Int = 0, target: Double? = nil, verified: Bool? = nil, iops: Bool = false
  ) {
    let i = slot(group: group, key: key, title: title, ops: ops, bytes: bytes, target: target)
    rows[i].samples[kind, default: []].append(nanos)
    rows[i].isIOPS = iops
    if let verified { rows[i].verified[kind] = (rows[i].verified[kind] ?? true) && verified }
  }

  func skip(
    _ kind: String, group: String, key: String, title: String, why: String,
    target: Double? = nil
  ) {
    let i = slot(group: group, key: key, title: title, ops: 0, bytes: 0, target: target)
    rows[i].skipped[kind] = why
  }

  /// Adds a check's outcome to a row (false sticks).
  func setVerified(_ kind: String, key: String, _ ok: Bool) {
    guard let i = index[key] else { return }
    rows[i].verified[kind] = (rows[i].verified[kind] ?? true) && ok
  }

  private func slot(
    group: String, key: String, title: String, ops: Int, bytes: Int, target: Double?
  ) -> Int {
    if let i = index[key] {
      if ops > 0 { rows[i].ops = ops }
      if bytes > 0 { rows[i].bytes = bytes }
      return i
    }
    rows.append(Row(key: key, group: group, title: title, ops: ops, bytes: bytes, target: target))
    index[key] = rows.count - 1
    return rows.count - 1
  }

  /// Adds one repetition's requests to a row.
  func addRequests(_ kind: String, key: String, _ counts: RequestCounts, ops: Int) {
    guard let i = index[key] else { return }
    rows[i].requests[kind, default: RequestTally()].counts.add(counts)
    rows[i].requests[kind, default: RequestTally()].ops += ops
  }

  /// Marks every row of `keys` without a figure for `kind` as skipped.
  func skipAll(_ kind: String, keys: Set<String>, why: String) {
    for i in rows.indices where keys.contains(rows[i].key) && rows[i].samples[kind] == nil {
      rows[i].skipped[kind] = why
    }
  }

  var keys: Set<String> { Set(index.keys) }

  func addMemory(_ name: String, _ value: Double, unit: String = "bytes", note: String = "") {
    memory.append((name, value, unit, note))
  }
}
