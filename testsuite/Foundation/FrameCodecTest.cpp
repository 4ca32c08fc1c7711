#include "FrameCodecTest.h"
