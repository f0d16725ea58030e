"""System V IPC (shared memory, semaphores, message queues) and the IPC
namespace that holds them; POSIX message queues live in kernel/mqueue.py
and belong to the same namespace, as on Linux."""
