// libpcap from Debian's libpcap-dev: live capture and pcap/pcapng files. Imported only by
// VigilCapture.
#include <pcap/pcap.h>
