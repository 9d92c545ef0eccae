// Fds with a live poll watcher (watched-fds.c). vqn_fd_watched() is in common.h.
#ifndef VQN_WATCHED_FDS_H
#define VQN_WATCHED_FDS_H

// 0 when added, 1 when the fd already has a watcher, -1 when out of memory.
int vqn_watch_fd(int fd);
void vqn_unwatch_fd(int fd);

#endif
