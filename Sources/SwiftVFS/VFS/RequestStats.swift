/// The request table and trace: what the FUSE bridge served, per opcode, the
/// analog of the syscall table. The bridge records every request here; the
/// proc file system shows it (`/proc/vfs/requests`, `/proc/vfs/trace`).
///
/// Locking: `lock` guards the table.
public final class RequestStats: @unchecked Sendable {
  /// One finished request, as the bridge reports it.
  public struct Record: Sendable {
    /// FUSE opcode name, e.g. "LOOKUP".
    public var opcode: String
    /// The VFS operation that served it, e.g. "inode_operations.lookup".
    public var operation: String
    public var ino: UInt64
    /// A name, or offset/size, or nothing.
    public var detail: String
    /// The file system type that served it ("memfs", "devfs", ...).
    public var fileSystem: String
    /// nil on success.
    public var error: Errno?
    public var latencyNanos: UInt64

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

  public struct Row: Sendable {
    public var opcode: String
    public var operation: String
    public var calls: UInt64 = 0
    public var errors: UInt64 = 0
    public var totalNanos: UInt64 = 0
  }

  private let lock = Lock()
  private var rows: [String: Row] = [:]

  public init() {}

  /// Whether anyone reads the trace; the bridge skips building details if not.
  public var tracing: Bool { false }

  public func record(_ record: Record) {
    lock.withLock {
      var row = rows[record.opcode] ?? Row(opcode: record.opcode, operation: record.operation)
      row.calls &+= 1
      if record.error != nil { row.errors &+= 1 }
      row.totalNanos &+= record.latencyNanos
      rows[record.opcode] = row
    }
  }

  public var table: [Row] { lock.withLock { rows.values.sorted { $0.opcode < $1.opcode } } }

  public func reset() { lock.withLock { rows.removeAll() } }
}
