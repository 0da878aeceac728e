// libpcap from Debian's libpcap-dev: live capture and pcap/pcapng files. Imported only by
// VigilNet's PcapSource.
#include <pcap/pcap.h>
