import Logging
import SwiftVFSCore

/// The end of every request, sync or async: the request table (/proc/vfs/
/// requests and the trace), the `-d` line on stderr, and the embedder's
/// `Logger` if it gave one.
extension FuseBridge {
  @inline(__always)
  func finish(
    _ opcode: FuseOpcode, _ ino: UInt64, detail: @autoclosure () -> String, served: Inode?,
    failure: Errno?, start: UInt64
  ) {
    let elapsed = FuseBridge.monotonicNanos() &- start
    let stats = vfs.requests
    let logger = options.logger
    let logs = logger.map { failure != nil || $0.logLevel <= .debug } ?? false
    let wantsDetail = options.debug || stats.tracing || logs
    let record = RequestStats.Record(
      opcode: opcode.name, operation: opcode.vfsOperation ?? "-", ino: nodeIDs.ino(ofNode: ino),
      detail: wantsDetail ? detail() : "",
      fileSystem: served?.sb.fsType.name ?? "-", error: failure, latencyNanos: elapsed)
    stats.record(record)
    if options.debug { FuseBridge.log(record) }
    if logs, let logger { FuseBridge.log(record, to: logger) }
  }

  /// One debug line per request; a failed request also gets a warning with
  /// its errno (ENOENT from a lookup is an answer, not a failure: debug only).
  package static func log(_ r: RequestStats.Record, to logger: Logger) {
    let metadata: Logger.Metadata = [
      "opcode": "\(r.opcode)", "ino": "\(r.ino)", "fs": "\(r.fileSystem)",
      "us": "\(r.latencyNanos / 1000)",
    ]
    let result = r.error.map { "\($0)" } ?? "ok"
    logger.debug(
      "\(r.opcode) ino=\(r.ino)\(r.detail.isEmpty ? "" : " " + r.detail) -> \(result)",
      metadata: metadata)
    if let error = r.error, !(error == .ENOENT && r.opcode == "LOOKUP") {
      var failed = metadata
      failed["errno"] = "\(error)"
      logger.warning(
        "\(r.opcode) ino=\(r.ino)\(r.detail.isEmpty ? "" : " " + r.detail) failed: \(error) (\(error.rawValue))",
        metadata: failed)
    }
  }
}
