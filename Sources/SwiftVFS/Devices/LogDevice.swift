import SwiftVFSCore
import SwiftVFSFileSystems

#if canImport(Glibc)
  import Glibc
#endif

/// The `log` device: a small message log in the manner of /dev/kmsg
/// (kernel/printk/printk.c, devkmsg_read/devkmsg_write/devkmsg_poll).
///
/// - Each write(2) is one record (at most `maxRecord` bytes; more is EINVAL,
///   as devkmsg_write refuses an oversized line). An empty write adds nothing.
/// - Each open file has its own read position, starting at the next record
///   written after the open: a reader gets the records written since it
///   opened, one record per read(2), whole (a buffer too small for the next
///   record is EINVAL, as devkmsg_read answers).
/// - With no record to read, read blocks until a writer adds one (an
///   interruptible sleep on the device's `WaitQueue`: EINTR if the caller
///   gets a signal), or answers EAGAIN if the file is O_NONBLOCK.
/// - poll reports POLLIN | POLLRDNORM when a record is waiting, and always
///   POLLOUT | POLLWRNORM; with nothing to read it keeps the poll waiter and
///   wakes it when a record arrives.
/// - The device keeps the last `capacity` records, a ring like the printk
///   buffer. A reader that falls further behind than that gets EPIPE once and
///   then goes on from the oldest record kept, as devkmsg_read does.
public final class LogDevice: @unchecked Sendable {
  /// The longest record in bytes; a longer write is EINVAL.
  public static let maxRecord = 4096
  /// Records kept by default.
  public static let defaultCapacity = 1024

  /// Records kept before the oldest is dropped.
  public let capacity: Int
  /// Readers sleep here; writers wake them (log_wait).
  public let waitQueue = WaitQueue()

  /// Guarded by `lock`: the records kept, and the sequence number of the
  /// first of them (log_first_seq); `nextSequence` is log_next_seq.
  private let lock = Lock()
  private var records: [[UInt8]] = []
  private var ringStart = 0
  private var firstSequence: UInt64 = 0
  private var sequenceCounter: UInt64 = 0

  /// An empty log that keeps `capacity` records.
  public init(capacity: Int = LogDevice.defaultCapacity) {
    precondition(capacity > 0)
    self.capacity = capacity
  }

  /// The fops that serve this device, for a cdev of one's own.
  public var fileOperations: LogFileOperations { LogFileOperations(device: self) }

  /// The sequence number the next record will get.
  public var nextSequence: UInt64 { lock.withLock { sequenceCounter } }

  /// Like register_chrdev() for a small driver: a dynamic major for one
  /// minor, named "log", and the node /dev/log if devtmpfs is mounted.
  @discardableResult
  public static func register(in vfs: VFS, name: String = "log") throws(Errno) -> (
    LogDevice, DevT
  ) {
    let device = LogDevice()
    let dev = try vfs.chrdevs.allocRegion(count: 1, name: name)
    try vfs.chrdevs.add(.init(base: dev, name: name, fileOps: device.fileOperations))
    try vfs.devtmpfsCreateNodeIfMounted(name, dev: dev, mode: 0o666)
    return (device, dev)
  }

  /// Appends one record and wakes readers and pollers (like vprintk_store()
  /// followed by wake_up_klogd()).
  public func append(_ record: [UInt8]) {
    lock.withLock {
      if records.count < capacity {
        records.append(record)
      } else {
        records[ringStart] = record
        ringStart = (ringStart + 1) % capacity
        firstSequence += 1
      }
      sequenceCounter += 1
    }
    waitQueue.wakeAll()
  }

  enum Fetch {
    case record([UInt8])
    case none
    case lost(UInt64)  // the reader was overrun; resume here
  }

  /// The record with sequence `seq`, if written and still kept.
  func fetch(_ seq: UInt64) -> Fetch {
    lock.withLock {
      if seq < firstSequence { return .lost(firstSequence) }
      guard seq < sequenceCounter else { return .none }
      let index = (ringStart + Int(seq - firstSequence)) % records.count
      return .record(records[index])
    }
  }

  func hasRecord(after seq: UInt64) -> Bool {
    lock.withLock { seq < sequenceCounter }
  }
}

/// One reader's position (struct devkmsg_user), guarded by its own lock so
/// that two reads on one open file take turns.
final class LogReader: @unchecked Sendable {
  let lock = Lock()
  var sequence: UInt64
  init(sequence: UInt64) { self.sequence = sequence }
}

/// The log device's fops (devkmsg_fops).
public struct LogFileOperations: FileOperations {
  /// The log these fops read and write.
  public let device: LogDevice

  private enum ReadStep {
    case read(Int)
    case wait(UInt64)
  }

  /// Like devkmsg_open(): the reader starts after the records already kept.
  /// The file is a stream: offsets mean nothing (FOPEN_NONSEEKABLE).
  public func open(_ inode: Inode, _ file: File) throws(Errno) {
    file.privateData = LogReader(sequence: device.nextSequence)
    file.nonSeekable = true
  }

  private func reader(_ file: File) -> LogReader {
    unsafeDowncast(file.privateData!, to: LogReader.self)
  }

  /// Like devkmsg_read(): one whole record, waiting for one if need be.
  public func read(_ file: File, into buffer: UnsafeMutableRawBufferPointer, at offset: Int64)
    throws(Errno) -> Int
  {
    let reader = reader(file)
    while true {
      // Take a record and move on under the reader's lock; sleep without it,
      // so that poll and other reads of this file are not held up.
      let step = try reader.lock.withLock { () throws(Errno) -> ReadStep in
        switch device.fetch(reader.sequence) {
        case .lost(let resume):
          reader.sequence = resume
          throw Errno(EPIPE)
        case .record(let record):
          guard record.count <= buffer.count else { throw .EINVAL }
          record.withUnsafeBytes {
            buffer.baseAddress?.copyMemory(from: $0.baseAddress!, byteCount: $0.count)
          }
          reader.sequence += 1
          return .read(record.count)
        case .none:
          return .wait(reader.sequence)
        }
      }
      switch step {
      case .read(let n):
        return n
      case .wait(let seq):
        if file.isNonBlocking { throw .EAGAIN }
        try device.waitQueue.wait(until: { device.hasRecord(after: seq) })
      }
    }
  }

  /// Like devkmsg_write(): the bytes as one record.
  public func write(_ file: File, from buffer: UnsafeRawBufferPointer, at offset: Int64)
    throws(Errno)
    -> Int
  {
    guard buffer.count <= LogDevice.maxRecord else { throw .EINVAL }
    guard buffer.count > 0 else { return 0 }
    device.append(Array(buffer))
    return buffer.count
  }

  /// Like devkmsg_poll(): readable when a record waits for this reader.
  public func poll(_ file: File, waiter: PollWaiter?) -> PollEvents {
    let reader = reader(file)
    let seq = reader.lock.withLock { reader.sequence }
    let ready = device.waitQueue.pollWait(waiter) { device.hasRecord(after: seq) }
    let always: PollEvents = [.writable, .writeNormal]
    return ready ? always.union([.readable, .readNormal]) : always
  }
}
