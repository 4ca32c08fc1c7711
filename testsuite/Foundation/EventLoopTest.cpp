#include "EventLoopTest.h"
