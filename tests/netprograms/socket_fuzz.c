/* Random arguments to the socket calls on non-blocking sockets of every
 * family the sandbox offers: the sentry must answer each with a result or
 * an errno, never die. Sandbox only (--network=none), never run natively. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <signal.h>
static unsigned long rnd(void){ return ((unsigned long)random()<<33) ^ ((unsigned long)random()<<2) ^ random(); }
static char buf[8192];
static unsigned long pick(int *fds){
  switch(random()%9){case 0: return 0; case 1: return (unsigned long)buf; case 2: return (unsigned long)buf + random()%4096;
  case 3: return rnd(); case 4: return random()%256; case 5: return fds[random()%8]; case 6: return -1UL; case 7: return 0x1000; default: return random()%120;}
}
int main(int argc,char**argv){ srandom(atoi(argv[1])); signal(SIGPIPE,SIG_IGN);
 int fds[8]; int doms[4]={AF_UNIX,AF_INET,AF_INET6,AF_NETLINK}; int types[3]={SOCK_STREAM,SOCK_DGRAM,SOCK_SEQPACKET};
 long nrs[]={41,42,43,44,45,46,47,48,49,50,51,52,53,54,55,288,299,307,0,1,16,72};
 for(int it=0; it<3000; it++){
  if(it%200==0){ for(int i=0;i<8;i++){ fds[i]=socket(doms[random()%4], types[random()%3]|SOCK_NONBLOCK, 0); if(fds[i]<0) fds[i]=socket(AF_UNIX,SOCK_DGRAM|SOCK_NONBLOCK,0);} }
  for(int i=0;i<(int)sizeof buf;i++) buf[i]=random();
  long nr=nrs[random()%(sizeof nrs/sizeof *nrs)];
  unsigned long a[6]; for(int i=0;i<6;i++) a[i]=pick(fds);
  a[0]=fds[random()%8];
  if(nr==0||nr==1){ a[2]%=4096; }
  if(nr==16 && (a[1]&0xff00)!=0x5400 && (a[1]&0xff00)!=0x8900) a[1]=0x541B;  /* ioctl: tty/sock requests only */
  if(nr==72) { a[1]= random()%5; a[2] |= 04000; }                                                  /* fcntl: simple cmds */
  if(nr==41||nr==53){ a[0]=random()%20; }
  syscall(nr,a[0],a[1],a[2],a[3],a[4],a[5]);
  if (nr==41||nr==43||nr==288||nr==53) { /* keep fd count bounded */ for(int f=20; f<40; f++) { int used=0; for(int i=0;i<8;i++) used|=fds[i]==f; if(!used) close(f);} }
 }
 printf("done\n"); return 0; }
