import Synchronization

#if canImport(Glibc)
  import Glibc
#endif

/// The request table and trace: what the FUSE bridge served, per opcode, the
/// analog of the syscall table. The bridge records every request here; the
/// proc file system shows it (`/proc/vfs/requests`, `/proc/vfs/trace`).
///
/// The table has a row for every kind of request the transport declares
/// (`declareKinds`: the FUSE bridge lists the kernel's opcodes, in
/// fuse_kernel.h order), so the core knows no FUSE opcode itself. A row is
/// "handled" once the bridge declares it (`declare`) or a request of it is
/// recorded; the rest show as unhandled: libfuse answers them ENOSYS and the
/// kernel does the work itself or stops asking.
///
/// Latencies go into a log-linear histogram per opcode (8 buckets per power
/// of two, so a p99 is within 12.5% of the truth), like the kernel's
/// blk-stat / bpftrace `hist()`: fixed memory, one increment per request.
///
/// `record(_:)` runs on every request: one lock, a cheap hash of the name,
/// a few additions. Only while someone reads the trace (`tracing`) does
/// it also format a line for the `trace` ring.
///
/// Locking: `lock` guards the rows; the trace ring has its own lock.
public final class RequestStats: @unchecked Sendable {
  /// One finished request, as the bridge reports it.
  public struct Record: Sendable {
    /// FUSE opcode name, e.g. "LOOKUP".
    public var opcode: String
    /// The VFS operation that served it, e.g. "inode_operations.lookup".
    public var operation: String
    /// The inode the request names.
    public var ino: UInt64
    /// A name, or offset/size, or nothing.
    public var detail: String
    /// The file system type that served it ("memfs", "devfs", ...).
    public var fileSystem: String
    /// nil on success.
    public var error: Errno?
    /// Time from request to reply, in nanoseconds.
    public var latencyNanos: UInt64

    /// A record of one served request.
    public init(
      opcode: String, operation: String, ino: UInt64, detail: String, fileSystem: String,
      error: Errno?, latencyNanos: UInt64
    ) {
      self.opcode = opcode
      self.operation = operation
      self.ino = ino
      self.detail = detail
      self.fileSystem = fileSystem
      self.error = error
      self.latencyNanos = latencyNanos
    }
  }

  /// One row of the table: an opcode, what serves it, and its counters.
  public struct Row: Sendable {
    /// The opcode's name, e.g. "LOOKUP".
    public var opcode: String
    /// The kernel's opcode number (fuse_kernel.h), 0 for one it does not list.
    public var code: Int
    /// The VFS operation it dispatches to; "" if unknown.
    public var operation: String
    /// Whether the bridge serves it (declared, or seen).
    public var handled: Bool
    /// Requests served.
    public var calls: UInt64 = 0
    /// Requests answered with an error.
    public var errors: UInt64 = 0
    /// Time spent on them, in nanoseconds.
    public var totalNanos: UInt64 = 0
    /// The slowest one, in nanoseconds.
    public var maxNanos: UInt64 = 0
    /// The 99th percentile latency: the top of the histogram bucket that
    /// holds it, capped at the largest seen. 0 with no calls.
    public var p99Nanos: UInt64 = 0

    /// Mean latency in nanoseconds, 0 with no calls.
    public var meanNanos: UInt64 { calls == 0 ? 0 : totalNanos / calls }
  }

  /// Request name -> row, open-addressed on the name's length and first and
  /// last bytes: hashing a String with SipHash costs more than all the rest
  /// of `record`, and the names of a transport's kinds differ there already.
  /// Built by `declareKinds`; read under `lock`.
  private var fastTable = [Int16](repeating: -1, count: 256)
  private var kindCount = 0  // rows made by declareKinds

  @inline(__always)
  private static func fastHash(_ name: String) -> Int {
    let utf8 = name.utf8
    let first = Int(utf8.first ?? 0)
    let last = Int(utf8.last ?? 0)
    return (first &* 31 &+ last &* 7 &+ utf8.count &* 13) & 255
  }

  /// The row of a declared kind, nil for another name. Caller holds `lock`.
  private func kindIndexLocked(_ name: String) -> Int? {
    var h = RequestStats.fastHash(name)
    while true {
      let i = fastTable[h]
      if i < 0 { return nil }
      if rows[Int(i)].opcode == name { return Int(i) }
      h = (h + 1) & 255
    }
  }

  /// Each row's counters, in one flat block so that a record is a few
  /// additions: calls, errors, total ns, max ns, handled (0/1), then the
  /// latency histogram.
  private static let stride = 5 + Histogram.bucketCount
  private static let callsSlot = 0
  private static let errorsSlot = 1
  private static let totalSlot = 2
  private static let maxSlot = 3
  private static let handledSlot = 4
  private static let histogramSlot = 5

  private let lock = Lock()
  private var rows: [Row]  // names and operations; the counters live in `slots`
  private var slots: UnsafeMutablePointer<UInt64>
  private var slotRows: Int
  private var extraIndex: [String: Int] = [:]  // opcodes the kernel list lacks

  /// The streaming trace: lines of recorded requests while anyone reads.
  public let trace = TraceRing()

  /// What the transport agreed with the kernel (protocol, limits, flags),
  /// one "key value" line each, for /proc/vfs/connection; set by the
  /// transport once its connection is up. The core itself knows none.
  public var connectionReport: @Sendable () -> String {
    get { lock.withLock { connectionReportBody } }
    set { lock.withLock { connectionReportBody = newValue } }
  }
  private var connectionReportBody: @Sendable () -> String = { "" }

  /// An empty table.
  public init() {
    rows = []
    slotRows = 64
    slots = .allocate(capacity: slotRows * RequestStats.stride)
    slots.initialize(repeating: 0, count: slotRows * RequestStats.stride)
  }

  /// The transport lists every kind of request it can receive, in its own
  /// order with its own numbers (the FUSE bridge: the kernel's opcodes, as
  /// fuse_kernel.h numbers them), before the first request: each gets a row,
  /// unhandled until `declare` or a request says otherwise. Only the first
  /// call counts (a second bridge on the same VFS declares the same kinds);
  /// the core itself knows no transport's requests.
  public func declareKinds(_ kinds: [(code: Int, name: String)]) {
    lock.withLock {
      guard kindCount == 0 else { return }
      for kind in kinds {
        let i = indexLocked(kind.name)
        rows[i].code = kind.code
        guard i < 255 else { continue }
        var h = RequestStats.fastHash(kind.name)
        while fastTable[h] >= 0 { h = (h + 1) & 255 }
        fastTable[h] = Int16(i)
      }
      kindCount = rows.count
    }
  }

  deinit { slots.deallocate() }

  /// Whether anyone reads the trace; the bridge skips building details if not.
  public var tracing: Bool { trace.isActive }

  /// The bridge says it serves `opcode` by calling `operation` (nil: it leaves
  /// the opcode to libfuse's ENOSYS). Call once per opcode at start.
  public func declare(_ opcode: String, operation: String?) {
    lock.withLock {
      let i = indexLocked(opcode)
      rows[i].operation = operation ?? ""
      slots[i * RequestStats.stride + RequestStats.handledSlot] = operation == nil ? 0 : 1
    }
  }

  /// Counts one finished request, and traces it if anyone reads the trace.
  /// Requests on the trace file itself are left out of both: they would feed
  /// the trace, and its reads, which wait for lines, would swamp READ's times.
  public func record(_ record: Record) {
    if trace.isQuiet(record.ino) { return }
    let bucket = Histogram.bucket(record.latencyNanos)
    lock.lock()
    let i = kindIndexLocked(record.opcode) ?? indexLocked(record.opcode)
    let row = slots + i * RequestStats.stride
    if row[RequestStats.handledSlot] == 0 { markHandledLocked(i, by: record) }
    row[RequestStats.callsSlot] &+= 1
    if record.error != nil { row[RequestStats.errorsSlot] &+= 1 }
    row[RequestStats.totalSlot] &+= record.latencyNanos
    if record.latencyNanos > row[RequestStats.maxSlot] {
      row[RequestStats.maxSlot] = record.latencyNanos
    }
    row[RequestStats.histogramSlot + bucket] &+= 1
    lock.unlock()
    if trace.isActive { trace.append(record) }
  }

  /// A request came for an opcode not declared: it is handled after all.
  private func markHandledLocked(_ i: Int, by record: Record) {
    slots[i * RequestStats.stride + RequestStats.handledSlot] = 1
    if rows[i].operation.isEmpty, record.operation != "-" { rows[i].operation = record.operation }
  }

  /// Every row, in opcode number order (opcodes outside the kernel's list last).
  public var table: [Row] {
    lock.withLock {
      var out = rows
      for i in out.indices {
        let row = slots + i * RequestStats.stride
        out[i].handled = row[RequestStats.handledSlot] != 0
        out[i].calls = row[RequestStats.callsSlot]
        out[i].errors = row[RequestStats.errorsSlot]
        out[i].totalNanos = row[RequestStats.totalSlot]
        out[i].maxNanos = row[RequestStats.maxSlot]
        let histogram = UnsafeBufferPointer(
          start: row + RequestStats.histogramSlot, count: Histogram.bucketCount)
        out[i].p99Nanos = min(Histogram.percentile(0.99, of: histogram), out[i].maxNanos)
      }
      return out
    }
  }

  /// One row by opcode name, if the table has it.
  public func row(_ opcode: String) -> Row? {
    table.first { $0.opcode == opcode }
  }

  /// Zeroes every counter (the handled opcodes stay), and the trace's lost count.
  public func reset() {
    lock.withLock {
      for i in 0..<rows.count {
        let row = slots + i * RequestStats.stride
        let handled = row[RequestStats.handledSlot]
        row.update(repeating: 0, count: RequestStats.stride)
        row[RequestStats.handledSlot] = handled
      }
    }
    trace.resetCounters()
  }

  /// The row index of a request's name, adding a row for a new one.
  private func indexLocked(_ opcode: String) -> Int {
    if let i = kindIndexLocked(opcode) ?? extraIndex[opcode] { return i }
    if rows.count == slotRows {
      let count = slotRows * RequestStats.stride
      let grown = UnsafeMutablePointer<UInt64>.allocate(capacity: 2 * count)
      grown.initialize(repeating: 0, count: 2 * count)
      grown.update(from: slots, count: count)
      slots.deallocate()
      slots = grown
      slotRows *= 2
    }
    rows.append(Row(opcode: opcode, code: 0, operation: "", handled: false))
    extraIndex[opcode] = rows.count - 1
    return rows.count - 1
  }
}

/// Log-linear latency buckets: values below 8 ns have a bucket each; above,
/// every power of two is split into 8 equal buckets.
enum Histogram {
  static let subBits = 3
  static let bucketCount = (64 - subBits + 1) << subBits

  static func bucket(_ v: UInt64) -> Int {
    let sub = UInt64(1) << subBits
    if v < sub { return Int(v) }
    let e = 63 - v.leadingZeroBitCount  // >= subBits
    let mantissa = Int((v >> UInt64(e - subBits)) & (sub - 1))
    return (e - subBits + 1) << subBits + mantissa
  }

  /// The largest value that falls in bucket `b`.
  static func upperBound(_ b: Int) -> UInt64 {
    let sub = 1 << subBits
    if b < sub { return UInt64(b) }
    let e = b >> subBits + subBits - 1
    let mantissa = UInt64(sub + b & (sub - 1))
    let (top, overflow) = (mantissa + 1).multipliedReportingOverflow(by: 1 << UInt64(e - subBits))
    return overflow ? UInt64.max : top - 1
  }

  /// The value below which `fraction` of the samples fall (a bucket's top).
  static func percentile(_ fraction: Double, of histogram: UnsafeBufferPointer<UInt64>)
    -> UInt64
  {
    let total = histogram.reduce(UInt64(0), &+)
    guard total > 0 else { return 0 }
    let rank = UInt64((Double(total) * fraction).rounded(.up))
    var seen: UInt64 = 0
    for (b, n) in histogram.enumerated() {
      seen &+= n
      if seen >= rank { return upperBound(b) }
    }
    return upperBound(histogram.count - 1)
  }
}

/// The trace of requests as a growing stream of text lines, kept in a ring of
/// the newest `capacity` lines, like ftrace's ring buffer in overwrite mode
/// (kernel/trace/ring_buffer.c) with `trace_pipe`'s blocking reads.
///
/// The stream exists while at least one reader has the trace open: the first
/// open starts it with a header line, the last close ends it. Byte offsets
/// are offsets in the stream, so a reader's file position means the same for
/// every reader; `size` (the bytes produced) is the file size that `stat`
/// shows, so `tail -f` sees it grow.
///
/// Writers never wait: a line that does not fit pushes out the oldest one. A
/// reader whose position has been pushed out skips ahead and is told how many
/// lines it lost ("# lost N lines"); the total is counted in `lostLines`. A
/// reader at the end of the stream sleeps on `queue` until a line arrives,
/// interruptibly (FUSE_INTERRUPT makes the read return EINTR).
///
/// Locking: `lock` guards the ring and counters; `readers` is atomic so the
/// bridge's `tracing` test takes no lock. `queue`'s conditions take `lock`
/// (queue mutex, then `lock`); `append` wakes the queue after unlocking.
public final class TraceRing: @unchecked Sendable {
  /// Lines kept; at ~100 bytes a line, about 800 KiB.
  public let capacity: Int

  /// The column header /proc/vfs/trace starts with.
  public static let header =
    "#     seconds  opcode           ino  detail                    -> vfs operation               fs       result        us\n"

  /// A reader's state, kept in its open File: how its file offsets map to
  /// stream offsets (they differ by the lost-line notices it was given) and
  /// the next line it expects.
  public final class Reader: @unchecked Sendable {
    var delta: Int64 = 0
    var nextSeq: UInt64 = 0
  }

  private struct Line {
    let seq: UInt64
    let offset: Int64
    let bytes: [UInt8]
  }

  private let lock = Lock()
  private let readers = Atomic<Int>(0)
  private var ring: [Line?]
  private var first = 0  // ring index of the oldest line
  private var count = 0
  private var produced: Int64 = 0
  private var nextSeq: UInt64 = 0
  private var lost: UInt64 = 0
  private var epochNanos: UInt64 = 0
  private var closed = false
  private let quietIno = Atomic<UInt64>(0)
  /// Readers sleep here until a line arrives.
  public let queue = WaitQueue()

  /// An empty ring that keeps the last `capacity` lines (at least 2).
  public init(capacity: Int = 8192) {
    self.capacity = max(capacity, 2)
    ring = Array(repeating: nil, count: self.capacity)
  }

  /// Whether anyone reads the trace now.
  public var isActive: Bool { readers.load(ordering: .relaxed) > 0 }

  /// Readers with the trace open.
  public var readerCount: Int { readers.load(ordering: .relaxed) }

  /// Bytes produced in this stream: the trace file's size.
  public var size: Int64 { lock.withLock { produced } }

  /// Lines pushed out before a reader read them, since the last reset.
  public var lostLines: UInt64 { lock.withLock { lost } }

  /// Lines written in this stream (the header included); those of the last
  /// stream after it ended.
  public var lineCount: UInt64 { lock.withLock { nextSeq } }

  /// A reader opens the trace; the first one starts a new stream.
  public func attach() -> Reader {
    let reader = Reader()
    lock.withLock {
      if readers.add(1, ordering: .relaxed).oldValue == 0 {
        startStreamLocked()
      }
      reader.nextSeq = count > 0 ? ring[first]!.seq : nextSeq
    }
    return reader
  }

  /// A reader closes the trace; after the last one nothing more is traced,
  /// and the stream is let go (the file's size is 0 again).
  public func detach(_ reader: Reader) {
    lock.withLock {
      if readers.subtract(1, ordering: .relaxed).oldValue == 1 {
        ring = Array(repeating: nil, count: capacity)
        first = 0
        count = 0
        produced = 0
      }
    }
  }

  /// Ends every read in progress and to come with EOF (for unmount).
  public func close() {
    lock.withLock { closed = true }
    queue.wakeAll()
  }

  /// Sets the count of lines lost to slow readers back to 0.
  public func resetCounters() { lock.withLock { lost = 0 } }

  /// Requests on inode `ino` (the trace file itself) are neither traced nor
  /// counted, so that reading the trace does not feed it.
  public func hide(ino: UInt64) { quietIno.store(ino, ordering: .relaxed) }

  /// Whether requests on `ino` are left out (see `hide(ino:)`).
  @inline(__always)
  func isQuiet(_ ino: UInt64) -> Bool {
    ino != 0 && ino == quietIno.load(ordering: .relaxed)
  }

  /// Adds one line for a recorded request.
  func append(_ r: RequestStats.Record) {
    if isQuiet(r.ino) { return }
    let now = TraceRing.monotonicNanos()
    lock.withLock {
      guard readers.load(ordering: .relaxed) > 0 else { return }
      let seconds = now &- epochNanos
      appendLocked(TraceRing.format(r, elapsedNanos: seconds))
    }
    queue.wakeAll()
  }

  /// Adds a line of text as it is (tests; notes from the VFS).
  public func append(line: String) {
    lock.withLock {
      guard readers.load(ordering: .relaxed) > 0 else { return }
      appendLocked(Array((line.hasSuffix("\n") ? line : line + "\n").utf8))
    }
    queue.wakeAll()
  }

  /// Reads from stream position `offset + reader.delta`: whole lines when
  /// they fit. At the end of the stream, waits for a line (or answers EAGAIN
  /// when `nonBlocking`). Returns 0 only after `close()`.
  public func read(
    _ reader: Reader, into buffer: UnsafeMutableRawBufferPointer, at offset: Int64,
    nonBlocking: Bool
  ) throws(Errno) -> Int {
    guard buffer.count > 0 else { return 0 }
    while true {
      let n = lock.withLock { readLocked(reader, into: buffer, at: offset) }
      if let n { return n }
      if nonBlocking { throw .EAGAIN }
      try queue.wait(until: { lock.withLock { hasDataLocked(reader, at: offset) } })
    }
  }

  /// Whether a line waits that the reader has not read (for poll).
  public func hasUnread(_ reader: Reader) -> Bool {
    lock.withLock { closed || reader.nextSeq < nextSeq }
  }

  // MARK: - Internals (caller holds `lock`)

  private func startStreamLocked() {
    nextSeq = 0
    epochNanos = TraceRing.monotonicNanos()
    appendLocked(Array(TraceRing.header.utf8))
  }

  private func appendLocked(_ bytes: [UInt8]) {
    if count == capacity {
      ring[first] = nil
      first = (first + 1) % capacity
      count -= 1
    }
    ring[(first + count) % capacity] = Line(seq: nextSeq, offset: produced, bytes: bytes)
    count += 1
    nextSeq += 1
    produced += Int64(bytes.count)
  }

  private var windowStart: Int64 { count > 0 ? ring[first]!.offset : produced }

  private func hasDataLocked(_ reader: Reader, at offset: Int64) -> Bool {
    closed || offset + reader.delta < produced
  }

  /// nil: nothing to read yet (the caller waits).
  private func readLocked(
    _ reader: Reader, into buffer: UnsafeMutableRawBufferPointer, at offset: Int64
  )
    -> Int?
  {
    if closed { return 0 }
    var stream = offset + reader.delta
    var out = 0
    if stream < windowStart {
      // Pushed out while the reader was away: skip to the oldest line kept,
      // and say how many lines went by unseen.
      let oldest = count > 0 ? ring[first]!.seq : nextSeq
      let missed = oldest > reader.nextSeq ? oldest - reader.nextSeq : 0
      var notice: [UInt8] = []
      if missed > 0 {
        lost &+= missed
        notice = Array("# lost \(missed) lines: reader too slow\n".utf8)
        notice = Array(notice.prefix(buffer.count))
        notice.withUnsafeBytes { buffer.copyMemory(from: $0) }
        out = notice.count
      }
      reader.delta += windowStart - stream - Int64(notice.count)
      reader.nextSeq = oldest
      stream = windowStart
    }
    if stream >= produced { return out > 0 ? out : nil }
    // The line holding `stream` (offsets grow along the ring).
    var lo = 0
    var hi = count - 1
    while lo < hi {
      let mid = (lo + hi + 1) / 2
      if ring[(first + mid) % capacity]!.offset <= stream { lo = mid } else { hi = mid - 1 }
    }
    var i = lo
    while i < count, out < buffer.count {
      let line = ring[(first + i) % capacity]!
      let from = Int(stream - line.offset)
      let rest = line.bytes.count - from
      let room = buffer.count - out
      // Whole lines only, unless not even one fits.
      if rest > room, out > 0 { break }
      let n = min(rest, room)
      line.bytes.withUnsafeBytes { src in
        UnsafeMutableRawBufferPointer(rebasing: buffer[out..<(out + n)])
          .copyMemory(from: UnsafeRawBufferPointer(rebasing: src[from..<(from + n)]))
      }
      out += n
      stream += Int64(n)
      reader.nextSeq = n == rest ? line.seq + 1 : line.seq
      i += 1
    }
    return out
  }

  static func monotonicNanos() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
  }

  /// One line: time since the stream began, opcode, inode, detail, the VFS
  /// operation and file system that served it, result, latency.
  static func format(_ r: RequestStats.Record, elapsedNanos: UInt64) -> [UInt8] {
    var line = TraceLine()
    let micros = elapsedNanos / 1000
    line.number(micros / 1_000_000, width: 6)
    line.byte(UInt8(ascii: "."))
    line.number(micros % 1_000_000, width: 6, zeros: true)
    line.spaces(2)
    line.text(r.opcode, width: 12)
    line.spaces(1)
    line.number(r.ino, width: 8)
    line.spaces(2)
    line.text(r.detail.isEmpty ? "-" : r.detail, width: 25)
    line.text(" -> ")
    line.text(r.operation, width: 28)
    line.spaces(1)
    line.text(r.fileSystem, width: 8)
    line.spaces(1)
    line.text(r.error?.name ?? "ok", width: 8)
    let tenths = (r.latencyNanos + 50) / 100
    line.number(tenths / 10, width: 8)
    line.byte(UInt8(ascii: "."))
    line.number(tenths % 10, width: 1)
    line.byte(UInt8(ascii: "\n"))
    return line.bytes
  }
}

/// A trace line built byte by byte, with fixed-width columns (the bridge's
/// strings are ASCII; a wider character only shifts the columns after it).
struct TraceLine {
  var bytes: [UInt8] = []

  init() { bytes.reserveCapacity(160) }

  mutating func byte(_ b: UInt8) { bytes.append(b) }

  mutating func spaces(_ n: Int) {
    for _ in 0..<max(n, 0) { bytes.append(UInt8(ascii: " ")) }
  }

  /// `s`, then spaces up to `width` bytes.
  mutating func text(_ s: String, width: Int = 0) {
    let start = bytes.count
    bytes.append(contentsOf: s.utf8)
    spaces(width - (bytes.count - start))
  }

  /// `n` in decimal, right-aligned in `width` columns (zero-filled if `zeros`).
  mutating func number(_ n: UInt64, width: Int, zeros: Bool = false) {
    var scale: UInt64 = 1
    var count = 1
    while n / scale >= 10 {
      scale *= 10
      count += 1
    }
    for _ in 0..<max(width - count, 0) { bytes.append(UInt8(ascii: zeros ? "0" : " ")) }
    while scale > 0 {
      bytes.append(UInt8(ascii: "0") + UInt8(n / scale % 10))
      scale /= 10
    }
  }
}
