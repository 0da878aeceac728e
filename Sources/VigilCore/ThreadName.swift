import CVigilShims

/// Names the calling thread for the OS (`/proc/PID/task/TID/comm`, `top -H`, profilers): at most
/// 15 bytes are kept. Foundation's `Thread.name` does not reach the OS on Linux.
package func nameCurrentThread(_ name: String) {
    _ = vigil_set_thread_name(name)
}
