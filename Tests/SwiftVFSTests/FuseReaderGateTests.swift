import Foundation
import Synchronization
import XCTest

@testable import SwiftVFSFuse

/// The engine's gate: when it lets one reader serve requests that come one
/// at a time, and that parked readers always come back.
final class FuseReaderGateTests: XCTestCase {
  private func now() -> UInt64 { FuseBridge.monotonicNanos() }

  /// One request read and answered before the next is read.
  private func serve(_ gate: FuseReaderGate, pid: UInt32, waiting: Bool = false) {
    gate.requestBegins(pid: pid, waiting: waiting, now: now())
    gate.requestEnds()
  }

  /// A gate that a run of requests one at a time has turned hot.
  private func hotGate() -> FuseReaderGate {
    let gate = FuseReaderGate()
    for _ in 0..<FuseReaderGate.hotRun { serve(gate, pid: 100) }
    XCTAssertTrue(gate.isHot)
    return gate
  }

  /// Cold until the last of a full run of requests one at a time.
  private func assertARunTurnsItHot(
    _ gate: FuseReaderGate, file: StaticString = #filePath, line: UInt = #line
  ) {
    for _ in 1..<FuseReaderGate.hotRun { serve(gate, pid: 100) }
    XCTAssertFalse(gate.isHot, file: file, line: line)
    serve(gate, pid: 100)
    XCTAssertTrue(gate.isHot, file: file, line: line)
  }

  func testTurnsHotAfterARunOfRequestsOneAtATime() {
    assertARunTurnsItHot(FuseReaderGate())
  }

  func testProcessesTakingTurnsCountAsOneAtATime() {
    // Two writers of one file, taking turns through its lock.
    let gate = FuseReaderGate()
    for i in 0..<FuseReaderGate.hotRun { serve(gate, pid: i % 2 == 0 ? 100 : 200) }
    XCTAssertTrue(gate.isHot)
  }

  func testARequestReadWhileAnotherIsServedTurnsItCold() {
    let gate = hotGate()
    gate.requestBegins(pid: 100, waiting: false, now: now())
    gate.requestBegins(pid: 200, waiting: false, now: now())
    XCTAssertFalse(gate.isHot)
    gate.requestEnds()
    gate.requestEnds()
    // The run starts again from nothing.
    assertARunTurnsItHot(gate)
  }

  func testAnotherProcesssRequestWaitingAfterAReplyTurnsItCold() {
    let gate = hotGate()
    // The same process may simply have been quick.
    serve(gate, pid: 100, waiting: true)
    XCTAssertTrue(gate.isHot)
    serve(gate, pid: 200, waiting: true)
    XCTAssertFalse(gate.isHot)
  }

  func testRequestsWithoutAProcessDoNotCount() {
    let gate = FuseReaderGate()
    for _ in 0..<FuseReaderGate.hotRun {
      serve(gate, pid: 100)
      // A FORGET found waiting: the kernel sends it on its own.
      serve(gate, pid: 0, waiting: true)
    }
    XCTAssertTrue(gate.isHot)
  }

  func testParkingReturnsAtOnceWhenCold() {
    let gate = FuseReaderGate()
    let stopping = Flag(false)
    gate.parkWhileHot(stopping: stopping.value)  // must not sleep: nothing to wait for
    XCTAssertFalse(gate.isHot)
  }

  func testAParkedReaderComesBackWhenTheClientGoesQuiet() {
    let gate = hotGate()
    let stopping = Flag(false)
    let before = now()
    gate.parkWhileHot(stopping: stopping.value)
    XCTAssertFalse(gate.isHot)
    XCTAssertGreaterThan(now() - before, FuseReaderGate.parkNanos, "it waited for the quiet")
  }

  /// Requests every 0.2 ms from another thread, which keep the gate from
  /// going quiet, until the returned flag is cleared: one at a time, or
  /// once `overlapping` is set, each read while the one before is still
  /// being served.
  private func feed(_ gate: FuseReaderGate, overlapping: Flag = Flag(false)) -> Flag {
    let feeding = Flag(true)
    Thread {
      var open = 0
      while feeding.value.load(ordering: .relaxed) {
        gate.requestBegins(pid: 100, waiting: false, now: FuseBridge.monotonicNanos())
        open += 1
        if !overlapping.value.load(ordering: .relaxed) || open > 1 {
          gate.requestEnds()
          open -= 1
        }
        usleep(200)
      }
      for _ in 0..<open { gate.requestEnds() }
    }.start()
    return feeding
  }

  /// A reader parked on another thread; the expectation is met when it returns.
  private func parkAReader(_ gate: FuseReaderGate, stopping: Flag) -> XCTestExpectation {
    let done = expectation(description: "the parked reader returned")
    Thread {
      gate.parkWhileHot(stopping: stopping.value)
      done.fulfill()
    }.start()
    return done
  }

  func testAParkedReaderComesBackWhenTheLeadIsHeldUp() {
    let gate = hotGate()
    gate.leadBusy(since: now())
    // The client keeps the gate from going quiet; only the lead's long
    // request can send the parked reader back.
    let feeding = feed(gate)
    gate.parkWhileHot(stopping: Flag(false).value)
    feeding.value.store(false, ordering: .relaxed)
    XCTAssertFalse(gate.isHot)
    // While the lead is still held up, the run does not turn it hot again.
    for _ in 0..<FuseReaderGate.hotRun { serve(gate, pid: 100) }
    XCTAssertFalse(gate.isHot)
    gate.leadBusy(since: 0)
    serve(gate, pid: 100)
    XCTAssertTrue(gate.isHot)
  }

  func testOverlappingRequestsWakeAParkedReader() {
    let gate = hotGate()
    // Requests that overlap never make it hot again, nor quiet.
    let overlapping = Flag(false)
    let feeding = feed(gate, overlapping: overlapping)
    let done = parkAReader(gate, stopping: Flag(false))
    usleep(20_000)
    overlapping.value.store(true, ordering: .relaxed)
    wait(for: [done], timeout: 60)
    XCTAssertFalse(gate.isHot)
    feeding.value.store(false, ordering: .relaxed)
  }

  func testStoppingWakesAParkedReader() {
    let gate = hotGate()
    let feeding = feed(gate)
    let stopping = Flag(false)
    let done = parkAReader(gate, stopping: stopping)
    usleep(20_000)
    stopping.value.store(true, ordering: .releasing)
    gate.turnCold()
    wait(for: [done], timeout: 60)
    feeding.value.store(false, ordering: .relaxed)
  }
}

/// An atomic flag that threads' closures can share.
private final class Flag: Sendable {
  let value: Atomic<Bool>
  init(_ initial: Bool) { value = Atomic(initial) }
}
