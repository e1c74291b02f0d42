import CFuse
import SwiftVFSCore

extension Interruption {
  /// Runs a request body that may block (a device read, the trace), with an
  /// `Interruption` set as current and registered with the request, so that a
  /// FUSE_INTERRUPT (the caller got a signal) makes its waits return EINTR.
  static func run<T>(_ req: FuseReplier, _ body: () throws(Errno) -> T) throws(Errno) -> T {
    let interruption = Interruption()
    Interruption.current = interruption
    req.onInterrupt { interruption.interrupt() }
    defer {
      // After this returns the callback runs no more.
      req.onInterrupt(nil)
      Interruption.current = nil
    }
    return try body()
  }
}
