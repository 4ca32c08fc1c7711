#include "PeerIdTest.h"
