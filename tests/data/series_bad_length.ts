@problemName Bad
@univariate false
@equalLength true
@seriesLength 3
@classLabel true a b
@data
1,2,3:4,5,6:a
1,2,3,4:5,6,7,8:b
